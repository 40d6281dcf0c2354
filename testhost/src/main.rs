//! `spin-test-host up ...`: runs the project's `.wasm` the way `spin up` does, for the tests
//! and benchmarks on machines where the Spin CLI cannot be installed.
//!
//! Start-up failures print one line on stderr and exit with code 1.

mod allowed_hosts;
mod cli;
mod handler;
mod host;
mod kv;
mod manifest;
mod reuse;
mod runtime;
mod runtime_config;
mod server;
mod template;
mod variables;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::host::ComponentShared;
use crate::kv::{Store, Stores};
use crate::manifest::Manifest;
use crate::runtime::ComponentRuntime;
use crate::runtime_config::{RuntimeConfig, StoreConfig};
use crate::variables::{Provider, Resolver};

fn main() {
    let result = cli::Up::parse(std::env::args().skip(1)).and_then(|up| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("failed to start the async runtime")?
            .block_on(run(up))
    });
    if let Err(err) = result {
        eprintln!("Error: {}", format!("{err:#}").replace('\n', " "));
        std::process::exit(1);
    }
}

async fn run(up: cli::Up) -> Result<()> {
    let app = Arc::new(load(&up)?);
    let tls = up.tls.as_ref().map(server::tls_acceptor).transpose()?;
    let listener = tokio::net::TcpListener::bind(up.listen)
        .await
        .with_context(|| format!("Unable to listen on {}", up.listen))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "Serving {scheme}://{}", listener.local_addr()?)?;
    stdout.flush()?;
    drop(stdout);
    server::serve(app, listener, tls).await
}

/// Everything that can fail at start-up: manifest, runtime config, variables, stores and
/// compiling the component.
fn load(up: &cli::Up) -> Result<ComponentRuntime> {
    let manifest = Manifest::load(&up.from)?;
    let runtime_config = match &up.runtime_config_file {
        Some(path) => RuntimeConfig::load(path)?,
        None => RuntimeConfig::default(),
    };

    let providers = vec![
        Provider::Static(up.variables.clone()),
        Provider::default_env(),
    ];
    let resolver = Resolver::new(manifest.variables.clone(), providers);
    resolver.ensure_required_variables_resolvable()?;

    let state_dir = state_dir(
        up.state_dir.as_deref(),
        runtime_config.state_dir.as_deref(),
        &manifest,
    )?;
    let mut store_configs = runtime_config.key_value_stores;
    store_configs
        .entry("default".to_string())
        .or_insert_with(|| StoreConfig::Sqlite(state_dir.map(|d| d.join("sqlite_key_value.db"))));
    let stores: HashMap<String, Arc<Store>> = store_configs
        .iter()
        .map(|(label, config)| {
            let store = Store::new(config).with_context(|| {
                format!("could not configure key-value store with label '{label}'")
            })?;
            Ok((label.clone(), Arc::new(store)))
        })
        .collect::<Result<_>>()?;
    let stores = Arc::new(Stores::new(stores));

    let engine = runtime::engine()?;
    // Spin caches compiled Wasm too.
    let cache_dir = runtime::default_cache_dir();
    let component = &manifest.component;
    for label in &component.key_value_stores {
        anyhow::ensure!(
            stores.get(label).is_some(),
            "unknown key_value_stores label {label:?} for component {:?}",
            component.id
        );
    }
    let wasm = std::fs::read(&component.source)
        .with_context(|| format!("Failed to load Wasm source {}", component.source.display()))?;
    let shared = Arc::new(ComponentShared {
        config: resolver.component_config(component),
        stores: stores.clone(),
        allowed_stores: component.key_value_stores.clone(),
    });
    let runtime = ComponentRuntime::new(
        &engine,
        &wasm,
        cache_dir.as_deref(),
        shared,
        up.request_timeout,
    )
    .with_context(|| format!("failed to load component {:?}", component.id))?;
    for (label, store) in stores.iter() {
        if component.key_value_stores.contains(label) {
            eprintln!("Key-value store {label:?}: {}", store.summary());
        }
    }
    Ok(runtime)
}

/// Spin's state directory: `--state-dir`, else the runtime config's `state_dir`, else
/// `.spin` beside spin.toml; an empty value means none (the default store is then in memory).
fn state_dir(
    flag: Option<&str>,
    from_config: Option<&str>,
    manifest: &Manifest,
) -> Result<Option<PathBuf>> {
    match flag.or(from_config) {
        Some("") => Ok(None),
        Some(dir) => Ok(Some(std::path::absolute(dir)?)),
        None => Ok(Some(manifest.dir.join(".spin"))),
    }
}
