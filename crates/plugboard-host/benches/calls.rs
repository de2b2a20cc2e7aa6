//! Call-path benchmarks of the plugin host with real plugins: a warm filter call, a call
//! that instantiates, a chain of ten filters (with warm caches, and as in a server, where
//! the rest of a turn has pushed the plugins out of the CPU caches), and the cost of one
//! host-service call. Results and the command that produced them are in BENCHMARKS.md.

#![allow(clippy::unwrap_used, missing_docs, reason = "benchmark harness")]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use plugboard_host::api::{CallContext, FilterOutcome};
use plugboard_host::{Plugin, PluginSource, Runtime, RuntimeConfig, Services, TextFilter, run_text_filters};
use plugboard_manifest::parse_manifest;
use plugboard_test_plugins::plugin_dir;
use serde_json::json;

fn source(name: &str, edit: impl FnOnce(String) -> String) -> PluginSource {
    let dir = plugin_dir(name);
    let text = edit(std::fs::read_to_string(dir.join("plugin.toml")).unwrap());
    let manifest = parse_manifest(&text, &dir.join("plugin.toml")).unwrap();
    PluginSource { manifest, wasm: std::fs::read(dir.join("plugin.wasm")).unwrap().into(), component_path: dir }
}

fn runtime(config: RuntimeConfig) -> Runtime {
    Runtime::new(config, Services::default()).unwrap()
}

fn load(rt: &tokio::runtime::Runtime, runtime: &Runtime, source: PluginSource) -> Plugin {
    rt.block_on(runtime.load(source, None)).unwrap()
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let context = CallContext { conversation_id: "c1".into(), ..CallContext::default() };
    let prompt = "lorem ipsum ".repeat(1024 / 12 + 1)[..1024].to_owned();

    let warm = runtime(RuntimeConfig::default());
    let tagger = load(&rt, &warm, source("example-tagger", |m| m));
    c.bench_function("before_prompt_warm_1KiB", |b| {
        b.to_async(&rt).iter(|| async {
            match tagger.before_prompt(&context, &prompt).await.unwrap() {
                FilterOutcome::Rewrite(text) => assert_eq!(text.len(), 1024 + "[tagged] ".len()),
                other => panic!("{other:?}"),
            }
        })
    });

    let cold = runtime(RuntimeConfig { max_idle_per_plugin: 0, ..RuntimeConfig::default() });
    let cold_tagger = load(&rt, &cold, source("example-tagger", |m| m));
    c.bench_function("instantiate_and_call_before_prompt_1KiB", |b| {
        b.to_async(&rt).iter(|| async { cold_tagger.before_prompt(&context, &prompt).await.unwrap() })
    });

    let chain_runtime = runtime(RuntimeConfig::default());
    let chain: Vec<Plugin> = (0..10)
        .map(|n| {
            let edit = move |m: String| {
                m.replace("id = \"example-tagger\"", &format!("id = \"tagger-{n}\""))
                    .replace("priority = 100", &format!("priority = {n}"))
            };
            load(&rt, &chain_runtime, source("example-tagger", edit))
        })
        .collect();
    c.bench_function("chain_of_10_before_prompt_filters_1KiB", |b| {
        b.to_async(&rt).iter(|| async {
            let result = run_text_filters(&chain, &TextFilter::BeforePrompt, &context, &prompt).await;
            assert_eq!(result.steps.len(), 10);
        })
    });

    // In a server, the rest of a turn (HTTP, SQLite, the model's client, other requests)
    // runs between two calls of a plugin and evicts its code and data from the caches.
    // These two time only the calls, each run after writing through a buffer larger than
    // a core's L2 and half this machine's L3: ten different plugins once each, and one
    // plugin ten times (whose code and instance are cold for the first call only).
    let mut group = c.benchmark_group("after_cache_flush");
    group.sample_size(30).measurement_time(Duration::from_secs(4));
    group.bench_function("chain_of_10_before_prompt_filters_1KiB", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            after_cache_flush(iters, || async {
                let result = run_text_filters(&chain, &TextFilter::BeforePrompt, &context, &prompt).await;
                assert_eq!(result.steps.len(), 10);
            })
        })
    });
    group.bench_function("same_plugin_10_before_prompt_calls_1KiB", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            after_cache_flush(iters, || async {
                for _ in 0..10 {
                    chain[0].before_prompt(&context, &prompt).await.unwrap();
                }
            })
        })
    });
    group.finish();

    let probe_runtime = runtime(RuntimeConfig::default());
    let probe = load(&rt, &probe_runtime, source("host-probe", |m| m));
    for count in [0u64, 100] {
        c.bench_function(&format!("tool_call_with_{count}_kv_get_host_calls"), |b| {
            b.to_async(&rt)
                .iter(|| async { probe.call_tool(&context, "kv_get_many", json!({"count": count})).await.unwrap() })
        });
    }
}

/// Runs `routine` `iters` times, each after writing one byte of every cache line of a
/// 16 MiB buffer, and returns the time spent in `routine` alone.
async fn after_cache_flush<F: Future<Output = ()>>(iters: u64, mut routine: impl FnMut() -> F) -> Duration {
    let mut buffer = vec![0u8; 16 << 20];
    let mut total = Duration::ZERO;
    for iter in 0..iters {
        for byte in buffer.iter_mut().step_by(64) {
            *byte = byte.wrapping_add(iter as u8);
        }
        std::hint::black_box(&mut buffer);
        let started = Instant::now();
        routine().await;
        total += started.elapsed();
    }
    total
}

criterion_group!(calls, benches);
criterion_main!(calls);
