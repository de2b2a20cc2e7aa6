//! The same filter plugin written in Rust, Python and JavaScript, side by side: the bundled
//! `example-tagger` (Rust), `examples/python-tagger` and `bench/js-tagger`, each with its
//! own manifest. Per language: the component's size, the first load into an empty compiled
//! cache (compile, cache write, instantiation, `init`), a load with the compiled file
//! present (a fresh runtime, so nothing is kept in memory), the resident memory of each
//! further idle warm plugin (`--copies` copies with their own ids, each having served a
//! call; Pss and Private from `/proc/self/smaps_rollup`), a call that instantiates
//! (`max_idle_per_plugin = 0`) and a warm call, both `before-prompt` with 1 KiB in and
//! 1 KiB + 9 bytes out, each call timed on its own. Every measurement runs in a process of
//! its own (this binary again), the languages one after the other in each of `--runs`
//! runs; medians of the runs are printed, with the ratios to Rust.
//!
//! The Python and JavaScript components are built by `plugboard plugin build`:
//! `bench/languages.sh` builds them and passes their folders in `PLUGBOARD_BENCH_PYTHON`
//! and `PLUGBOARD_BENCH_JS` (a language whose variable is unset is left out). Results in
//! BENCHMARKS.md, "Plugins in Rust, Python and JavaScript". More builds of the same filter
//! (of another tool version, say) join the run through `PLUGBOARD_BENCH_MORE`, as
//! `name=folder` pairs separated by commas.
//!
//! ```sh
//! bench/languages.sh --runs 3
//! PLUGBOARD_BENCH_PYTHON=folder cargo bench -p plugboard-host --bench languages -- --runs 3 --copies 10
//! ```

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs, reason = "benchmark harness")]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use plugboard_host::api::{CallContext, FilterOutcome};
use plugboard_host::{Plugin, PluginSource, Runtime, RuntimeConfig, Services};
use plugboard_manifest::parse_manifest;
use plugboard_test_plugins::plugin_dir;
use support::{child_results, median, memory_per_copy, result};

/// How long each kind of call is timed, after a warm-up.
const CALL_TIME: Duration = Duration::from_secs(2);
/// The most calls timed of each kind (a JavaScript instance leaks with each call).
const MAX_CALLS: usize = 20_000;

/// A language's plugin: its name and its folder (`plugin.toml`, `plugin.wasm`).
fn languages() -> Vec<(&'static str, PathBuf)> {
    let mut found = vec![("rust", plugin_dir("example-tagger"))];
    for (name, variable) in [("python", "PLUGBOARD_BENCH_PYTHON"), ("javascript", "PLUGBOARD_BENCH_JS")] {
        match std::env::var_os(variable) {
            Some(folder) => found.push((name, PathBuf::from(folder))),
            None => eprintln!("{variable} unset: no {name} plugin (bench/languages.sh builds one)"),
        }
    }
    let more = std::env::var("PLUGBOARD_BENCH_MORE").unwrap_or_default();
    for pair in more.split(',').filter(|pair| !pair.is_empty()) {
        let (name, folder) = pair.split_once('=').expect("PLUGBOARD_BENCH_MORE holds name=folder pairs");
        found.push((name.to_owned().leak(), PathBuf::from(folder)));
    }
    found
}

/// The plugin in `folder` as copy `n`: its manifest with its own id.
fn source(folder: &Path, n: usize) -> PluginSource {
    let text = std::fs::read_to_string(folder.join("plugin.toml")).unwrap();
    let manifest = parse_manifest(&text, &folder.join("plugin.toml")).unwrap();
    let id = format!("id = \"{}\"", manifest.id);
    let text = text.replace(&id, &format!("id = \"{}-{n:03}\"", manifest.id));
    let manifest = parse_manifest(&text, &folder.join("plugin.toml")).unwrap();
    let component_path = folder.join(&manifest.component);
    let wasm = std::fs::read(&component_path).unwrap_or_else(|error| panic!("{}: {error}", component_path.display()));
    PluginSource { manifest, wasm: wasm.into(), component_path }
}

fn runtime(config: RuntimeConfig) -> Runtime {
    Runtime::new(config, Services::default()).unwrap()
}

fn cached(cache: &Path) -> RuntimeConfig {
    RuntimeConfig { cache_dir: Some(cache.to_owned()), ..RuntimeConfig::default() }
}

fn prompt() -> String {
    "lorem ipsum ".repeat(1024 / 12 + 1)[..1024].to_owned()
}

/// Calls `before_prompt` with `prompt`; whether it answered with the tagged prompt.
async fn call(plugin: &Plugin, context: &CallContext, prompt: &str) -> bool {
    match plugin.before_prompt(context, prompt).await {
        Ok(FilterOutcome::Rewrite(text)) => {
            assert_eq!(text.len(), prompt.len() + "[tagged] ".len());
            true
        }
        Ok(other) => panic!("{other:?}"),
        Err(_) => false,
    }
}

/// Times calls of `plugin` with `prompt` one by one for [`CALL_TIME`] (at most
/// [`MAX_CALLS`]) after `warm_up` untimed ones: prints their median in µs and how many
/// failed.
async fn time_calls(plugin: &Plugin, name: &str, prompt: &str, warm_up: usize) {
    let context = CallContext { conversation_id: "c1".into(), ..CallContext::default() };
    for _ in 0..warm_up {
        call(plugin, &context, prompt).await;
    }
    let (mut times, mut failed) = (Vec::new(), 0);
    let started = Instant::now();
    while started.elapsed() < CALL_TIME && times.len() < MAX_CALLS {
        let call_started = Instant::now();
        let answered = call(plugin, &context, prompt).await;
        let elapsed = call_started.elapsed();
        if answered {
            times.push(elapsed.as_secs_f64() * 1e6);
        } else {
            failed += 1;
        }
    }
    result(&format!("{name}_calls"), times.len() as f64);
    result(&format!("{name}_failed_calls"), f64::from(failed));
    result(&format!("{name}_us"), median(&mut times));
}

/// Load times: the first load into an empty compiled cache, then three loads with the
/// compiled file present, each by a runtime of its own.
async fn measure_loads(folder: &Path) {
    let cache = tempfile::tempdir().unwrap();
    result("component_MB", source(folder, 0).wasm.len() as f64 / 1e6);
    let started = Instant::now();
    runtime(cached(cache.path())).load(source(folder, 0), None).await.unwrap();
    result("first_load_ms", started.elapsed().as_secs_f64() * 1e3);
    let compiled: u64 =
        std::fs::read_dir(cache.path()).unwrap().map(|entry| entry.unwrap().metadata().unwrap().len()).sum();
    result("compiled_MB", compiled as f64 / 1e6);
    let mut loads = Vec::new();
    for n in 1..4 {
        let runtime = runtime(cached(cache.path()));
        let started = Instant::now();
        runtime.load(source(folder, n), None).await.unwrap();
        loads.push(started.elapsed().as_secs_f64() * 1e3);
    }
    result("cached_load_ms", median(&mut loads));
}

/// Memory of `copies` idle warm plugins, each having served a call: the first one's, and
/// each further one's, (after the last − after the first) / (copies − 1).
async fn measure_memory(folder: &Path, cache: &Path, copies: usize) {
    let context = CallContext { conversation_id: "c1".into(), ..CallContext::default() };
    let prompt = prompt();
    // The calls' process has filled the compiled cache: nothing compiles in this one.
    let runtime = runtime(cached(cache));
    memory_per_copy(copies, |n| {
        let (runtime, context, prompt) = (&runtime, &context, &prompt);
        async move {
            let plugin = runtime.load(source(folder, n), None).await.unwrap();
            assert!(call(&plugin, context, prompt).await);
            assert_eq!(plugin.status().idle_instances, 1, "one warm idle instance");
            plugin
        }
    })
    .await;
}

async fn measure_calls(folder: &Path, cache: &Path) {
    let warm = runtime(cached(cache));
    let plugin = warm.load(source(folder, 0), None).await.unwrap();
    time_calls(&plugin, "warm_call", &prompt(), 200).await;
    // What the call costs apart from moving 1 KiB each way.
    time_calls(&plugin, "warm_call_5_bytes", "hello", 200).await;
    let cold = runtime(RuntimeConfig { max_idle_per_plugin: 0, ..cached(cache) });
    time_calls(&cold.load(source(folder, 1), None).await.unwrap(), "instantiate_and_call", &prompt(), 10).await;
}

/// In a child: `--child <what> <folder> <cache> <copies>`.
async fn child(args: &[String]) {
    let (folder, cache) = (Path::new(&args[1]), Path::new(&args[2]));
    match args[0].as_str() {
        "loads" => measure_loads(folder).await,
        "memory" => measure_memory(folder, cache, args[3].parse().unwrap()).await,
        "calls" => measure_calls(folder, cache).await,
        other => panic!("unknown measurement `{other}`"),
    }
}

fn option(args: &[String], name: &str, default: usize) -> usize {
    args.windows(2).find(|pair| pair[0] == name).map_or(default, |pair| pair[1].parse().unwrap())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    if let Some(at) = args.iter().position(|arg| arg == "--child") {
        rt.block_on(child(&args[at + 1..]));
        return;
    }
    let (runs, copies) = (option(&args, "--runs", 3), option(&args, "--copies", 10));
    assert!(copies >= 2, "--copies must be at least 2");
    let languages = languages();
    let caches: Vec<tempfile::TempDir> = languages.iter().map(|_| tempfile::tempdir().unwrap()).collect();
    println!("{runs} runs, {copies} copies for memory, each measurement in a process of its own");
    let mut results: BTreeMap<(String, &str), Vec<f64>> = BTreeMap::new();
    for run in 0..runs {
        for ((language, folder), cache) in languages.iter().zip(&caches) {
            for what in ["loads", "calls", "memory"] {
                let (folder, cache) = (folder.to_str().unwrap(), cache.path().to_str().unwrap());
                for (metric, value) in child_results(&["--child", what, folder, cache, &copies.to_string()]) {
                    results.entry((metric, language)).or_default().push(value);
                }
            }
        }
        println!("run {} of {runs} done", run + 1);
    }
    let names: Vec<&str> = languages.iter().map(|(name, _)| *name).collect();
    print!("{:<44}", "metric (median of runs)");
    for name in &names {
        print!(" {name:>12}");
    }
    for name in &names[1..] {
        print!(" {:>12}", format!("{name}/rust"));
    }
    println!();
    let metrics: BTreeSet<String> = results.keys().map(|(metric, _)| metric.clone()).collect();
    for metric in metrics {
        let medians: Vec<f64> = names
            .iter()
            .map(|name| results.get_mut(&(metric.clone(), *name)).map_or(f64::NAN, |values| median(values)))
            .collect();
        print!("{metric:<44}");
        for value in &medians {
            print!(" {value:>12.2}");
        }
        for value in &medians[1..] {
            print!(" {:>12.2}", value / medians[0]);
        }
        println!();
    }
    println!("all runs:");
    for ((metric, name), values) in &results {
        let all = values.iter().map(|value| format!("{value:.2}")).collect::<Vec<_>>().join(" ");
        println!("  {metric} {name}: {all}");
    }
}
