//! The wasmtime engine shared by every plugin: component model, pooling
//! allocator, epoch interruption driven by a ticker thread, and the linker
//! with the host's imports for each supported WIT version.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::error::LoadError;
use super::state::HostState;

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// How much of a plugin's linear memory stays resident between calls and
/// is reset in place, when the kernel reports which pages a call touched
/// (`PAGEMAP_SCAN`, Linux 6.7+): only those are reset.
const KEEP_RESIDENT_SCANNED: usize = 16 << 20;

/// The same without `PAGEMAP_SCAN`, where all of it is cleared after every
/// call: small, so the clearing stays cheaper than returning the pages.
const KEEP_RESIDENT_CLEARED: usize = 1 << 20;

/// How much linear memory to keep resident on this machine.
fn keep_resident() -> usize {
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        KEEP_RESIDENT_SCANNED
    } else {
        KEEP_RESIDENT_CLEARED
    }
}

/// The largest linear memory any plugin may be configured with, in MiB.
pub const MAX_PLUGIN_MEMORY_MIB: u64 = 1024;

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("switchboard-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .ok();
        Self { stop, thread }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The engine, the linkers, and the epoch ticker.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    _ticker: EpochTicker,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine for at most `max_instances` live instances at once.
    pub fn new(max_instances: u32) -> Result<Self, LoadError> {
        let host = |e: wasmtime::Error| LoadError::Host(e.to_string());
        let instances = max_instances.max(1) + 4;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(instances)
            .total_core_instances(instances * 8)
            .total_memories(instances * 2)
            .total_tables(instances * 8)
            .max_core_instances_per_component(16)
            .max_memories_per_component(2)
            .max_tables_per_component(8)
            .max_memory_size((MAX_PLUGIN_MEMORY_MIB as usize) << 20)
            // Reset memories and tables in place rather than returning
            // pages to the kernel: no madvise, no copy-on-write fault and
            // no TLB shootdown (an IPI to every core) per call. With
            // PAGEMAP_SCAN (Linux 6.7+) only the pages a call touched are
            // reset, so a larger part can stay resident cheaply.
            .linear_memory_keep_resident(keep_resident())
            .pagemap_scan(wasmtime::Enabled::Auto)
            .table_keep_resident(64 << 10)
            .decommit_batch_size(16);

        let mut config = wasmtime::Config::new();
        config
            // Calls are async (`*_async`): they run on the request's own
            // task and yield at every epoch tick, so there is no hand-off to
            // another thread, and a plugin that spins still leaves the
            // executor to others.
            .wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(1 << 20)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(host)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(host)?;
        super::v0_1_0::add_to_linker(&mut linker).map_err(host)?;

        let ticker = EpochTicker::start(engine.clone());
        Ok(Self {
            engine,
            linker,
            _ticker: ticker,
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker with WASI (empty context) and every host interface.
    pub fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    /// Epoch ticks for a deadline.
    pub fn ticks_for(deadline: Duration) -> u64 {
        let tick = EPOCH_TICK.as_micros().max(1);
        (deadline.as_micros().div_ceil(tick)).max(1) as u64
    }
}
