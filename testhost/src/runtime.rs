//! Turns the manifest's components into ready-to-instantiate Wasm, as Spin's HTTP trigger
//! does, and picks each one's handler by what it exports (see `crate::handler`).
//!
//! A wasip1 core module is made into a component with wit-component and the preview1
//! reactor adapter (Spin's own step), compiled once and pre-instantiated once, with both
//! WASIp2 and WASIp3 (`0.3.0`) interfaces linked. The WASI release candidate
//! (`0.3.0-rc-2026-03-15`, spin-sdk 6) is not linked: Spin 4.0.x runs that build.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hyper::body::Incoming;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi_http::p2;
use wasmtime_wasi_http::p3::bindings::ServicePre;

use crate::handler::{ResponseBody, Wasip2Handler, Wasip3Handler};
use crate::host::{self, ComponentShared, InstanceState};

/// The engine every component of the app is compiled for.
pub fn engine() -> Result<Engine> {
    let mut config = wasmtime::Config::new();
    // WASIp3 handlers, and the `async` imports of spin-sdk 7 (spin:redis@3.0.0, ...).
    config.wasm_component_model_async(true);
    // Instances come and go (with every request, for WASIp2 handlers): reuse their memory
    // slots instead of mapping fresh memory each time, as Spin does by default.
    let mut pooling = PoolingAllocationConfig::default();
    pooling.total_component_instances(1_000);
    pooling.total_core_instances(4_000);
    pooling.total_memories(2_000);
    pooling.total_tables(2_000);
    pooling.max_memories_per_component(4);
    pooling.max_tables_per_component(4);
    pooling.max_core_instances_per_component(16);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    // Epoch interruption with a 10 ms ticker, as Spin's engine has (its stores' deadline is so
    // far that it never interrupts): without it a blocked instance can miss its wake-up
    // (docs/design.md, "The test host's epoch ticker").
    config.epoch_interruption(true);
    let engine = Engine::new(&config)?;
    let ticking = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = ticking.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
    Ok(engine)
}

/// Spin's `DEFAULT_EPOCH_TICK_INTERVAL`.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// A store for one instance, with Spin's epoch deadline: effectively none.
pub fn store(engine: &Engine, shared: &Arc<ComponentShared>) -> Store<InstanceState> {
    let mut store = Store::new(engine, InstanceState::new(shared.clone()));
    store.set_epoch_deadline(u64::MAX / 2);
    store
}

/// Wasmtime's error as an `anyhow::Error`, so that context can be added to it.
fn wt<T>(result: wasmtime::Result<T>) -> Result<T> {
    result.map_err(anyhow::Error::from)
}

/// Returns a component for `bytes`: as is if it already is one, else the core module
/// wrapped with the wasi_snapshot_preview1 reactor adapter.
pub fn componentize(bytes: &[u8]) -> Result<Vec<u8>> {
    if wasmparser_is_component(bytes) {
        return Ok(bytes.to_vec());
    }
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(bytes)?
        .adapter(
            "wasi_snapshot_preview1",
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )?
        .encode()
}

/// The Wasm binary header's layer field tells a component (1) from a core module (0).
fn wasmparser_is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[6..8] == [1, 0]
}

/// Where compiled components are kept between runs, as Spin keeps its Wasmtime cache:
/// `$XDG_CACHE_HOME/spin-test-host`, else `~/.cache/spin-test-host`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("spin-test-host"))
}

/// Compiles `wasm` (componentizing it first), reusing an earlier compilation of the same
/// bytes by the same engine configuration from `cache_dir` when there is one.
fn compile(engine: &Engine, wasm: &[u8], cache_dir: Option<&Path>) -> Result<Component> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER
        .hash(&mut hasher);
    wasm.hash(&mut hasher);
    let cached = cache_dir.map(|dir| dir.join(format!("{:016x}.cwasm", hasher.finish())));
    if let Some(path) = cached.as_deref().filter(|p| p.is_file()) {
        // SAFETY: files in this directory are only ever written below, by
        // `Component::serialize` on an engine with the same compatibility hash (it is part
        // of the name), via an atomic rename; Wasmtime also checks the header on load.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, path) } {
            return Ok(component);
        }
    }
    let component_bytes =
        componentize(wasm).context("failed to turn the module into a component")?;
    let component =
        wt(Component::new(engine, &component_bytes)).context("failed to compile the component")?;
    if let Some(path) = cached {
        // The cache only saves time: failing to write it is not an error.
        let _ = write_atomically(&path, &wt(component.serialize())?);
    }
    Ok(component)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, path)
}

/// One component, compiled and linked, with the handler its export calls for.
pub enum ComponentRuntime {
    Wasip2(Wasip2Handler),
    Wasip3(Wasip3Handler),
}

impl ComponentRuntime {
    pub fn new(
        engine: &Engine,
        wasm: &[u8],
        cache_dir: Option<&Path>,
        shared: Arc<ComponentShared>,
        request_timeout: Option<Duration>,
    ) -> Result<Self> {
        let component = compile(engine, wasm, cache_dir)?;
        if let Some((name, _)) = component
            .component_type()
            .exports(engine)
            .find(|(name, _)| name.starts_with("wasi:http/handler@0.3.0-rc-"))
        {
            anyhow::bail!(
                "the component exports `{name}` (a WASI release candidate, spin-sdk 6), which is \
                 not supported by the test host: run it on a Spin 4.0.x (spin40/spin.toml is \
                 that build's manifest)"
            );
        }
        let mut linker = Linker::<InstanceState>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi::p3::add_to_linker(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
        host::add_to_linker(&mut linker)?;
        let instance_pre = wt(linker.instantiate_pre(&component))
            .context("the component imports something the test host does not provide")?;
        // Spin tells the handler kind by the export, and refuses a component with two.
        let wasip2 = p2::bindings::ProxyPre::new(instance_pre.clone());
        let wasip3 = ServicePre::new(instance_pre);
        match (wasip2, wasip3) {
            (Ok(pre), Err(_)) => Ok(Self::Wasip2(Wasip2Handler::new(engine, pre, shared))),
            (Err(_), Ok(pre)) => Ok(Self::Wasip3(Wasip3Handler::new(
                engine,
                pre,
                shared,
                request_timeout,
            ))),
            (Ok(_), Ok(_)) => anyhow::bail!(
                "component exports multiple different handlers but it's expected to export only one"
            ),
            (Err(_), Err(_)) => anyhow::bail!(
                "the component exports neither `wasi:http/incoming-handler@0.2.*` nor \
                 `wasi:http/handler@0.3.0`, the HTTP handlers the test host runs"
            ),
        }
    }

    /// Runs `req`; `Err` becomes Spin's empty 500.
    pub async fn handle(
        &self,
        req: hyper::Request<Incoming>,
    ) -> Result<http::Response<ResponseBody>> {
        match self {
            Self::Wasip2(handler) => handler.handle(req).await,
            Self::Wasip3(handler) => handler.handle(req).await,
        }
    }
}
