//! Operator configuration of the plugin host: ceilings that cap what manifests ask for,
//! pool sizes, and the circuit breaker.

use std::path::PathBuf;
use std::time::Duration;

/// How the host runs plugins. Manifest limits are capped by these.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached across restarts; none disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Memory ceiling of an instance whose manifest sets none.
    pub default_memory_bytes: u64,
    /// Highest memory ceiling any plugin may have (and the pooling allocator's slot size).
    pub max_memory_bytes: u64,
    /// Deadline of a call whose manifest sets none.
    pub default_timeout: Duration,
    /// Longest deadline any plugin may have.
    pub max_timeout: Duration,
    /// Longest deadline a scheduled task may declare (`deadline` in `[[schedules]]`).
    pub max_task_timeout: Duration,
    /// Instances alive at once across all plugins: sizes the pooling allocator (component
    /// instances, and on average two memories, sixteen core instances and four tables each).
    /// When it is full, every plugin's warm instances are dropped to make room; a call that
    /// still finds no room fails with `Busy`, which is not held against the plugin.
    pub max_instances: u32,
    /// Instances of one plugin running at once; further calls wait (up to their deadline).
    pub max_concurrency_per_plugin: u32,
    /// Warm idle instances kept per plugin for reuse.
    pub max_idle_per_plugin: usize,
    /// How often the epoch ticks: the granularity of deadlines.
    pub epoch_tick: Duration,
    /// Largest result (string or bytes) a plugin may return from one call.
    pub max_output_bytes: usize,
    /// WebAssembly stack size of an instance.
    pub max_wasm_stack_bytes: usize,
    /// Outbound HTTP from plugins.
    pub http: HttpConfig,
    /// When a misbehaving plugin is disabled.
    pub breaker: BreakerConfig,
    /// Where instances get their memories, tables and stacks.
    pub instance_allocator: InstanceAllocator,
}

/// Where instances get their memories, tables and stacks (BENCHMARKS.md, "Memory per idle
/// plugin", compares the two).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InstanceAllocator {
    /// Slots reserved once at start for `max_instances` instances (address space, not
    /// memory) and reused: an instantiation takes a slot and maps the component's initial
    /// memory copy-on-write, and a finished instance's slot is kept warm.
    #[default]
    Pooling,
    /// Each instantiation maps its memories and tables anew, and unmaps them when the
    /// instance goes: no ceiling on instances but the plugins' own limits.
    OnDemand,
}

/// Outbound HTTP limits.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Longest time for one request, headers and body included.
    pub timeout: Duration,
    /// Largest response body accepted.
    pub max_response_bytes: usize,
    /// Largest request body a plugin may send.
    pub max_request_bytes: usize,
}

/// Circuit breaker policy: `max_faults` faults within `window` disable a plugin.
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    /// Faults that open the breaker.
    pub max_faults: usize,
    /// The sliding window they are counted in.
    pub window: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            default_memory_bytes: 64 << 20,
            max_memory_bytes: 512 << 20,
            default_timeout: Duration::from_secs(5),
            max_timeout: Duration::from_secs(120),
            max_task_timeout: Duration::from_secs(600),
            max_instances: 256,
            max_concurrency_per_plugin: 16,
            max_idle_per_plugin: 4,
            epoch_tick: Duration::from_millis(5),
            max_output_bytes: 16 << 20,
            max_wasm_stack_bytes: 1 << 20,
            http: HttpConfig {
                timeout: Duration::from_secs(30),
                max_response_bytes: 8 << 20,
                max_request_bytes: 8 << 20,
            },
            breaker: BreakerConfig { max_faults: 5, window: Duration::from_secs(60) },
            instance_allocator: InstanceAllocator::Pooling,
        }
    }
}
