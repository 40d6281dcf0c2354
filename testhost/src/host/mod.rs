//! The data of one instance's `Store`, and the Spin interfaces linked for it, one file per
//! interface: `variables`, `redis` (outbound Redis), `keyvalue` and `outbound_http`.
//!
//! An `InstanceState` lives as long as its instance: one request for a WASIp2 handler, up
//! to the reuse limits for a WASIp3 one (see `crate::reuse`), so it holds nothing that
//! belongs to a request. What all instances of a component share (resolved variables, the
//! allow-list, key-value stores) sits behind one `Arc<ComponentShared>`.

/// `From` between two Rust copies of one WIT variant (a newer interface version repeats
/// the older one's types, and bindgen makes each its own type), case by case.
macro_rules! convert_variant {
    ($from:ident::$from_type:ident => $to:ident::$to_type:ident { $($case:ident $(($value:ident))?),+ $(,)? }) => {
        impl From<$from::$from_type> for $to::$to_type {
            fn from(value: $from::$from_type) -> Self {
                match value {
                    $($from::$from_type::$case $(($value))? => Self::$case $(($value))?,)+
                }
            }
        }
    };
}

mod keyvalue;
mod outbound_http;
mod redis;
mod variables;

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{p2, p3, WasiHttpCtx};

use crate::kv::Stores;
use crate::variables::ComponentConfig;

use self::outbound_http::OutboundHttp;

wasmtime::component::bindgen!({
    path: "wit",
    world: "host",
    imports: { default: async },
    with: {
        "fermyon:spin/redis.connection": redis::RedisConnection,
        "spin:redis/redis@3.0.0.connection": redis::RedisConnection,
        "wasi:keyvalue/store.bucket": crate::kv::Bucket,
        "wasi:keyvalue/atomics.cas": keyvalue::Cas,
    },
});

/// What every instance of one component shares.
pub struct ComponentShared {
    pub config: ComponentConfig,
    pub stores: Arc<Stores>,
    /// The labels of the component's `key_value_stores`.
    pub allowed_stores: Vec<String>,
}

/// The data of one instance's `Store`.
pub struct InstanceState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    http_hooks: OutboundHttp,
    table: ResourceTable,
    shared: Arc<ComponentShared>,
    redis_connections: usize,
    open_buckets: usize,
}

impl InstanceState {
    pub fn new(shared: Arc<ComponentShared>) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stdout().inherit_stderr();
        // Spin lets a component open sockets only where its allow-list permits the
        // `tcp`/`udp` scheme for that address.
        let checker = shared.clone();
        wasi.socket_addr_check(move |addr, use_| {
            let checker = checker.clone();
            Box::pin(async move {
                let scheme = match use_ {
                    wasmtime_wasi::sockets::SocketAddrUse::TcpBind => return false,
                    wasmtime_wasi::sockets::SocketAddrUse::TcpConnect => "tcp",
                    _ => "udp",
                };
                checker.allows_url(&addr.to_string(), scheme)
            })
        });
        Self {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            http_hooks: OutboundHttp(shared.clone()),
            table: ResourceTable::new(),
            shared,
            redis_connections: 0,
            open_buckets: 0,
        }
    }
}

impl ComponentShared {
    fn allows_url(&self, url: &str, scheme: &str) -> bool {
        matches!(&self.config.allowed_hosts, Ok(hosts) if hosts.allows_url(url, scheme))
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl p2::WasiHttpView for InstanceState {
    fn http(&mut self) -> p2::WasiHttpCtxView<'_> {
        p2::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

impl p3::WasiHttpView for InstanceState {
    fn http(&mut self) -> p3::WasiHttpCtxView<'_> {
        p3::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

/// Adds the Spin interfaces to `linker`.
pub fn add_to_linker(
    linker: &mut wasmtime::component::Linker<InstanceState>,
) -> wasmtime::Result<()> {
    Host_::add_to_linker::<InstanceState, wasmtime::component::HasSelf<InstanceState>>(
        linker,
        |s| s,
    )
}

/// An instance for the interface tests of this module's files.
#[cfg(test)]
mod test_support {
    use super::*;
    use crate::manifest::Manifest;
    use crate::variables::{Provider, Resolver};
    use wasmtime::component::Accessor;

    /// Runs `work` in a store holding `state`, with the accessor a WASIp3 call gets.
    pub async fn run_concurrent<R: Send>(
        state: InstanceState,
        work: impl AsyncFnOnce(&Accessor<InstanceState>) -> R,
    ) -> R {
        let engine = crate::runtime::engine().unwrap();
        let mut store = wasmtime::Store::new(&engine, state);
        store.run_concurrent(work).await.unwrap()
    }

    /// An instance whose allow-list is `redis://{{ host }}:{{ port }}` plus `extra_hosts`,
    /// with one component variable, `port`.
    pub fn instance(host: &str, port: &str, extra_hosts: &str) -> InstanceState {
        let manifest = format!(
            r#"
spin_manifest_version = 2
[variables]
host = {{ default = "127.0.0.1" }}
port = {{ default = "6379" }}
[[trigger.http]]
route = "/..."
component = "c"
[component.c]
source = "c.wasm"
allowed_outbound_hosts = ["redis://{{{{ host }}}}:{{{{ port }}}}"{extra_hosts}]
variables = {{ port = "{{{{ port }}}}" }}
"#
        );
        let manifest = Manifest::parse(&manifest, "/app".into()).unwrap();
        let values = [("host", host), ("port", port)].map(|(k, v)| (k.to_string(), v.to_string()));
        let resolver = Resolver::new(
            manifest.variables.clone(),
            vec![Provider::Static(values.into())],
        );
        InstanceState::new(Arc::new(ComponentShared {
            config: resolver.component_config(&manifest.component),
            stores: Arc::new(Stores::new(Default::default())),
            allowed_stores: vec![],
        }))
    }
}
