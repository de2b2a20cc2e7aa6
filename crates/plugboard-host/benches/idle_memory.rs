//! Memory per idle plugin, and what an instantiation costs, with each instance allocator.
//!
//! Loads `--copies` copies of a plugin (the bundled `example-tagger`, or the component
//! `PLUGBOARD_BENCH_COMPONENT` names, with the tagger's manifest: a Python or JavaScript
//! build, say), each with its own id and one warm idle instance that has served a
//! `before-prompt` call, and reads `/proc/self/smaps_rollup` (Rss, Pss, Private_Dirty)
//! before the first, after the first and after the last: the first plugin's memory, and
//! each further one's, (after the last − after the first) / (copies − 1). The compiled
//! component comes from the compiled cache, mapped, as in a server. Then times calls that
//! instantiate (no warm instance kept) and warm calls. Each measurement runs in a process
//! of its own (this binary again), so none inherits another's heap; medians of `--runs`
//! are printed. Results in BENCHMARKS.md, "Memory per idle plugin".
//!
//! ```sh
//! cargo bench -p plugboard-host --bench idle_memory -- --runs 5 --copies 10
//! PLUGBOARD_BENCH_COMPONENT=path/to/plugin.wasm cargo bench -p plugboard-host --bench idle_memory
//! ```

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs, reason = "benchmark harness")]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use plugboard_host::api::{CallContext, FilterOutcome};
use plugboard_host::{InstanceAllocator, Plugin, PluginSource, Runtime, RuntimeConfig, Services};
use plugboard_manifest::parse_manifest;
use plugboard_test_plugins::plugin_dir;
use support::{child_results, median, memory_per_copy};

/// The component measured instead of the tagger's, with the tagger's manifest.
const COMPONENT_VARIABLE: &str = "PLUGBOARD_BENCH_COMPONENT";

/// Calls timed per measurement: instantiating ones, and warm ones.
const INSTANTIATING_CALLS: u32 = 300;
const WARM_CALLS: u32 = 3000;

struct Options {
    runs: usize,
    copies: usize,
    /// Set in a child: which allocator to measure with, and the compiled cache to use.
    child: Option<(String, PathBuf)>,
}

fn options() -> Options {
    let mut options = Options { runs: 5, copies: 10, child: None };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut index = 0;
    while index < args.len() {
        match args[index].as_str() {
            "--runs" => options.runs = args[index + 1].parse().unwrap(),
            "--copies" => options.copies = args[index + 1].parse().unwrap(),
            "--child" => {
                options.child = Some((args[index + 1].clone(), PathBuf::from(&args[index + 2])));
                index += 1;
            }
            _ => {
                index += 1;
                continue;
            }
        }
        index += 2;
    }
    assert!(options.copies >= 2, "--copies must be at least 2");
    options
}

fn allocator(name: &str) -> InstanceAllocator {
    match name {
        "pooling" => InstanceAllocator::Pooling,
        "on-demand" => InstanceAllocator::OnDemand,
        other => panic!("unknown allocator `{other}`"),
    }
}

/// The plugin as copy `n`: the tagger's manifest with its own id, and its component.
fn source(n: usize) -> PluginSource {
    let dir = plugin_dir("example-tagger");
    let text = std::fs::read_to_string(dir.join("plugin.toml")).unwrap();
    let text = text.replace("id = \"example-tagger\"", &format!("id = \"tagger-{n:03}\""));
    let manifest = parse_manifest(&text, &dir.join("plugin.toml")).unwrap();
    let component_path = std::env::var_os(COMPONENT_VARIABLE).map_or_else(|| dir.join("plugin.wasm"), PathBuf::from);
    let wasm = std::fs::read(&component_path).unwrap_or_else(|error| panic!("{}: {error}", component_path.display()));
    PluginSource { manifest, wasm: wasm.into(), component_path }
}

async fn call(plugin: &Plugin, context: &CallContext) {
    match plugin.before_prompt(context, "hello").await.unwrap() {
        FilterOutcome::Rewrite(_) | FilterOutcome::Keep => {}
        other => panic!("{other:?}"),
    }
}

/// One measurement, in this process: prints `RESULT name value` lines.
async fn child(allocator: InstanceAllocator, cache: &Path, copies: usize) {
    let context = CallContext { conversation_id: "c1".into(), ..CallContext::default() };
    let config =
        RuntimeConfig { cache_dir: Some(cache.to_owned()), instance_allocator: allocator, ..RuntimeConfig::default() };
    let runtime = Runtime::new(config.clone(), Services::default()).unwrap();
    runtime.compile(&source(0)).await.unwrap();
    let plugins = memory_per_copy(copies, |n| {
        let (runtime, context) = (&runtime, &context);
        async move {
            let plugin = runtime.load(source(n), None).await.unwrap();
            call(&plugin, context).await;
            assert_eq!(plugin.status().idle_instances, 1, "one warm idle instance");
            plugin
        }
    })
    .await;
    drop(plugins);
    drop(runtime);

    let cold = Runtime::new(RuntimeConfig { max_idle_per_plugin: 0, ..config.clone() }, Services::default()).unwrap();
    let plugin = cold.load(source(0), None).await.unwrap();
    for _ in 0..20 {
        call(&plugin, &context).await;
    }
    let started = Instant::now();
    for _ in 0..INSTANTIATING_CALLS {
        call(&plugin, &context).await;
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / f64::from(INSTANTIATING_CALLS);
    println!("RESULT instantiate_and_call_us {micros}");

    let warm = Runtime::new(config, Services::default()).unwrap();
    let plugin = warm.load(source(0), None).await.unwrap();
    for _ in 0..100 {
        call(&plugin, &context).await;
    }
    let started = Instant::now();
    for _ in 0..WARM_CALLS {
        call(&plugin, &context).await;
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / f64::from(WARM_CALLS);
    println!("RESULT warm_call_us {micros}");
}

fn main() {
    let options = options();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    if let Some((name, cache)) = &options.child {
        rt.block_on(child(allocator(name), cache, options.copies));
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let component = source(0);
    println!(
        "{} ({:.1} MB), {} copies, {} runs of each allocator, each in a process of its own",
        component.component_path.display(),
        component.wasm.len() as f64 / 1e6,
        options.copies,
        options.runs
    );
    let mut results: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for run in 0..options.runs {
        for name in ["pooling", "on-demand"] {
            let copies = options.copies.to_string();
            for (metric, value) in
                child_results(&["--child", name, cache.path().to_str().unwrap(), "--copies", &copies])
            {
                results.entry((name.to_owned(), metric)).or_default().push(value);
            }
        }
        println!("run {} of {} done", run + 1, options.runs);
    }
    println!("{:<10} {:<34} {:>10}   all runs", "allocator", "metric", "median");
    for ((name, metric), values) in &mut results {
        let all = values.iter().map(|value| format!("{value:.1}")).collect::<Vec<_>>().join(" ");
        println!("{name:<10} {metric:<34} {:>10.1}   {all}", median(values));
    }
}
