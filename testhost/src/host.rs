//! The per-instance host state and the Spin interfaces implemented on it:
//! fermyon:spin/variables, fermyon:spin/redis and wasi:keyvalue.
//!
//! A fresh `InstanceState` is made for every request, as Spin makes a fresh instance per
//! request; anything shared (resolved variables, the allow-list, key-value stores) sits
//! behind one `Arc<ComponentShared>`.

use std::net::SocketAddr;
use std::sync::Arc;

use redis::aio::MultiplexedConnection;
use redis::io::AsyncDNSResolver;
use redis::{AsyncCommands, AsyncConnectionConfig, FromRedisValue, Value};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, OutgoingRequestConfig};
use wasmtime_wasi_http::p2::{HttpResult, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};
use wasmtime_wasi_http::WasiHttpCtx;

use crate::kv::{Bucket, Stores};

use crate::variables::{ComponentConfig, VariableError};

wasmtime::component::bindgen!({
    path: "wit",
    world: "host",
    imports: { default: async },
    with: {
        "fermyon:spin/redis.connection": RedisConnection,
        "wasi:keyvalue/store.bucket": crate::kv::Bucket,
        "wasi:keyvalue/atomics.cas": Cas,
    },
});

use fermyon::spin::{redis as spin_redis, variables};
use wasi::keyvalue::{atomics, batch, store};

/// Spin's per-instance limits on open handles.
const MAX_REDIS_CONNECTIONS: usize = 1024;
const MAX_OPEN_BUCKETS: usize = 256;

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

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

/// Outbound HTTP: refused unless the allow-list names the host (as Spin refuses it), and
/// not implemented by the test host when it does.
struct OutboundHttp(Arc<ComponentShared>);

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: hyper::Request<HyperOutgoingBody>,
        _config: OutgoingRequestConfig,
    ) -> HttpResult<HostFutureIncomingResponse> {
        let uri = request.uri().to_string();
        let scheme = request.uri().scheme_str().unwrap_or("https");
        Err(if self.0.allows_url(&uri, scheme) {
            ErrorCode::InternalError(Some(
                "outbound HTTP is not supported by the test host".to_string(),
            ))
        } else {
            ErrorCode::HttpRequestDenied
        }
        .into())
    }
}

// ---- fermyon:spin/variables ------------------------------------------------------------

impl variables::Host for InstanceState {
    async fn get(&mut self, name: String) -> Result<String, variables::Error> {
        self.shared.config.get(&name).map_err(|err| match err {
            VariableError::InvalidName(m) => variables::Error::InvalidName(m),
            VariableError::Undefined(m) => variables::Error::Undefined(m),
            VariableError::Provider(m) => variables::Error::Provider(m),
            VariableError::Other(m) => variables::Error::Other(m),
        })
    }
}

// ---- fermyon:spin/redis ----------------------------------------------------------------

/// One outbound Redis connection, owned by one instance.
pub struct RedisConnection(MultiplexedConnection);

/// Resolves host names like Spin's resolver does (tokio's `lookup_host`).
struct TokioResolver;

impl AsyncDNSResolver for TokioResolver {
    fn resolve<'a, 'b: 'a>(
        &'a self,
        host: &'b str,
        port: u16,
    ) -> redis::RedisFuture<'a, Box<dyn Iterator<Item = SocketAddr> + Send + 'a>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host, port))
                .await?
                .collect::<Vec<_>>();
            Ok(Box::new(addrs.into_iter()) as Box<dyn Iterator<Item = SocketAddr> + Send>)
        })
    }
}

fn redis_error(err: redis::RedisError) -> spin_redis::Error {
    spin_redis::Error::Other(err.to_string())
}

impl InstanceState {
    fn connection(
        &mut self,
        conn: &Resource<RedisConnection>,
    ) -> Result<MultiplexedConnection, spin_redis::Error> {
        self.table
            .get(conn)
            .map(|c| c.0.clone())
            .map_err(|_| spin_redis::Error::Other("could not find connection for resource".into()))
    }
}

impl spin_redis::Host for InstanceState {}

impl spin_redis::HostConnection for InstanceState {
    async fn open(
        &mut self,
        address: String,
    ) -> Result<Resource<RedisConnection>, spin_redis::Error> {
        match &self.shared.config.allowed_hosts {
            Err(message) => return Err(spin_redis::Error::Other(message.clone())),
            Ok(hosts) if !hosts.allows_url(&address, "redis") => {
                return Err(spin_redis::Error::InvalidAddress)
            }
            Ok(_) => {}
        }
        let client =
            redis::Client::open(address.as_str()).map_err(|_| spin_redis::Error::InvalidAddress)?;
        let config = AsyncConnectionConfig::new().set_dns_resolver(TokioResolver);
        let conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(redis_error)?;
        if self.redis_connections >= MAX_REDIS_CONNECTIONS {
            return Err(spin_redis::Error::TooManyConnections);
        }
        let resource = self
            .table
            .push(RedisConnection(conn))
            .map_err(|_| spin_redis::Error::TooManyConnections)?;
        self.redis_connections += 1;
        Ok(resource)
    }

    async fn publish(
        &mut self,
        conn: Resource<RedisConnection>,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), spin_redis::Error> {
        let () = self
            .connection(&conn)?
            .publish(&channel, &payload)
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    async fn get(
        &mut self,
        conn: Resource<RedisConnection>,
        key: String,
    ) -> Result<Option<Vec<u8>>, spin_redis::Error> {
        self.connection(&conn)?.get(&key).await.map_err(redis_error)
    }

    async fn set(
        &mut self,
        conn: Resource<RedisConnection>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), spin_redis::Error> {
        let () = self
            .connection(&conn)?
            .set(&key, &value)
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    async fn incr(
        &mut self,
        conn: Resource<RedisConnection>,
        key: String,
    ) -> Result<i64, spin_redis::Error> {
        self.connection(&conn)?
            .incr(&key, 1)
            .await
            .map_err(redis_error)
    }

    async fn del(
        &mut self,
        conn: Resource<RedisConnection>,
        keys: Vec<String>,
    ) -> Result<u32, spin_redis::Error> {
        self.connection(&conn)?
            .del(&keys)
            .await
            .map_err(redis_error)
    }

    async fn sadd(
        &mut self,
        conn: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, spin_redis::Error> {
        self.connection(&conn)?
            .sadd(&key, &values)
            .await
            .map_err(|e| {
                if e.kind() == redis::ErrorKind::TypeError {
                    spin_redis::Error::TypeError
                } else {
                    redis_error(e)
                }
            })
    }

    async fn smembers(
        &mut self,
        conn: Resource<RedisConnection>,
        key: String,
    ) -> Result<Vec<String>, spin_redis::Error> {
        self.connection(&conn)?
            .smembers(&key)
            .await
            .map_err(redis_error)
    }

    async fn srem(
        &mut self,
        conn: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, spin_redis::Error> {
        self.connection(&conn)?
            .srem(&key, &values)
            .await
            .map_err(redis_error)
    }

    async fn execute(
        &mut self,
        conn: Resource<RedisConnection>,
        command: String,
        arguments: Vec<spin_redis::RedisParameter>,
    ) -> Result<Vec<spin_redis::RedisResult>, spin_redis::Error> {
        let mut cmd = redis::cmd(&command);
        for argument in arguments {
            match argument {
                spin_redis::RedisParameter::Int64(v) => cmd.arg(v),
                spin_redis::RedisParameter::Binary(v) => cmd.arg(v),
            };
        }
        let mut conn = self.connection(&conn)?;
        let Flattened(results) = cmd.query_async(&mut conn).await.map_err(redis_error)?;
        Ok(results)
    }

    async fn drop(&mut self, conn: Resource<RedisConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        self.redis_connections -= 1;
        Ok(())
    }
}

/// An `execute` reply flattened into `redis-result`s, with Spin's conversions.
struct Flattened(Vec<spin_redis::RedisResult>);

impl FromRedisValue for Flattened {
    fn from_redis_value(value: &Value) -> redis::RedisResult<Self> {
        fn unsupported(what: &str) -> redis::RedisError {
            redis::RedisError::from((
                redis::ErrorKind::TypeError,
                "Could not convert Redis response",
                format!("Redis {what} is not supported"),
            ))
        }
        fn push(out: &mut Vec<spin_redis::RedisResult>, value: &Value) -> redis::RedisResult<()> {
            use spin_redis::RedisResult as R;
            match value {
                Value::Nil => out.push(R::Nil),
                Value::Int(v) => out.push(R::Int64(*v)),
                Value::BulkString(b) => out.push(R::Binary(b.clone())),
                Value::SimpleString(s) => out.push(R::Status(s.clone())),
                Value::Okay => out.push(R::Status("OK".to_string())),
                Value::Double(v) => out.push(R::Binary(v.to_string().into_bytes())),
                Value::Boolean(v) => out.push(R::Int64(i64::from(*v))),
                Value::BigNumber(v) => out.push(R::Binary(v.to_string().into_bytes())),
                Value::Array(items) | Value::Set(items) => {
                    for item in items {
                        push(out, item)?;
                    }
                }
                Value::Map(_) => return Err(unsupported("Map type")),
                Value::Attribute { .. } => return Err(unsupported("Attribute type")),
                Value::VerbatimString { .. } => {
                    return Err(unsupported("string with format attribute"))
                }
                Value::Push { .. } => return Err(unsupported("Pub/Sub types")),
                Value::ServerError(err) => {
                    return Err(redis::RedisError::from((
                        redis::ErrorKind::ResponseError,
                        "Server error",
                        format!("{err:?}"),
                    )))
                }
            }
            Ok(())
        }
        let mut out = Vec::new();
        push(&mut out, value)?;
        Ok(Self(out))
    }
}

// ---- wasi:keyvalue ---------------------------------------------------------------------

/// The compare-and-swap resource; the test host never creates one (see `HostCas::new`).
pub struct Cas;

const CAS_UNSUPPORTED: &str = "compare-and-swap is not supported by the test host";

fn kv_error(message: String) -> store::Error {
    store::Error::Other(message)
}

impl InstanceState {
    fn bucket<T: 'static>(&self, bucket: &Resource<T>) -> Result<&Bucket, store::Error> {
        self.table
            .get(&Resource::<Bucket>::new_borrow(bucket.rep()))
            .map_err(|_| store::Error::NoSuchStore)
    }
}

impl store::Host for InstanceState {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, store::Error> {
        if !self.shared.allowed_stores.contains(&identifier) {
            return Err(store::Error::AccessDenied);
        }
        let store = self
            .shared
            .stores
            .get(&identifier)
            .ok_or(store::Error::NoSuchStore)?
            .clone();
        let bucket = store.open(&identifier).await.map_err(kv_error)?;
        if self.open_buckets >= MAX_OPEN_BUCKETS {
            return Err(store::Error::Other("store table full".to_string()));
        }
        let resource = self
            .table
            .push(bucket)
            .map_err(|_| store::Error::Other("store table full".to_string()))?;
        self.open_buckets += 1;
        Ok(resource)
    }
}

impl store::HostBucket for InstanceState {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<Option<Vec<u8>>, store::Error> {
        self.bucket(&bucket)?.get(&key).await.map_err(kv_error)
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), store::Error> {
        self.bucket(&bucket)?
            .set(&key, &value)
            .await
            .map_err(kv_error)
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<(), store::Error> {
        self.bucket(&bucket)?.delete(&key).await.map_err(kv_error)
    }

    async fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<bool, store::Error> {
        self.bucket(&bucket)?.exists(&key).await.map_err(kv_error)
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<String>,
    ) -> Result<store::KeyResponse, store::Error> {
        if cursor.is_some() {
            return Err(store::Error::Other(
                "list_keys: cursor not supported".to_string(),
            ));
        }
        let keys = self.bucket(&bucket)?.keys().await.map_err(kv_error)?;
        Ok(store::KeyResponse { keys, cursor: None })
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        self.open_buckets -= 1;
        Ok(())
    }
}

impl atomics::Host for InstanceState {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> Result<i64, store::Error> {
        self.bucket(&bucket)?
            .increment(&key, delta)
            .await
            .map_err(kv_error)
    }

    async fn swap(&mut self, cas: Resource<Cas>, _value: Vec<u8>) -> Result<(), atomics::CasError> {
        self.table.delete(cas).ok();
        Err(atomics::CasError::StoreError(store::Error::Other(
            CAS_UNSUPPORTED.to_string(),
        )))
    }
}

impl atomics::HostCas for InstanceState {
    async fn new(
        &mut self,
        _bucket: Resource<Bucket>,
        _key: String,
    ) -> Result<Resource<Cas>, store::Error> {
        Err(store::Error::Other(CAS_UNSUPPORTED.to_string()))
    }

    async fn current(&mut self, _cas: Resource<Cas>) -> Result<Option<Vec<u8>>, store::Error> {
        Err(store::Error::Other(CAS_UNSUPPORTED.to_string()))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for InstanceState {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, store::Error> {
        self.bucket(&bucket)?.get_many(keys).await.map_err(kv_error)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), store::Error> {
        self.bucket(&bucket)?
            .set_many(key_values)
            .await
            .map_err(kv_error)
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<(), store::Error> {
        self.bucket(&bucket)?
            .delete_many(keys)
            .await
            .map_err(kv_error)
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

#[cfg(test)]
mod tests {
    use super::spin_redis::HostConnection as _;
    use super::*;
    use crate::manifest::Manifest;
    use crate::variables::{Provider, Resolver};
    use std::process::{Child, Command, Stdio};

    /// A redis-server of our own on a free loopback port, killed on drop.
    struct RedisServer {
        child: Child,
        port: u16,
        dir: std::path::PathBuf,
    }

    impl RedisServer {
        fn start(extra: &[&str]) -> Self {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let dir = std::env::temp_dir().join(format!("spin-test-host-redis-{port}"));
            std::fs::create_dir_all(&dir).unwrap();
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .arg("--dir")
                .arg(&dir)
                .args(extra)
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server is installed");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "redis-server did not start"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Self { child, port, dir }
        }
    }

    impl Drop for RedisServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// An instance whose allow-list is `redis://{{ host }}:{{ port }}` plus `extra_hosts`.
    fn instance(host: &str, port: &str, extra_hosts: &str) -> InstanceState {
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
"#
        );
        let manifest = Manifest::parse(&manifest, "/app".into()).unwrap();
        let values = [("host", host), ("port", port)].map(|(k, v)| (k.to_string(), v.to_string()));
        let resolver = Resolver::new(
            manifest.variables.clone(),
            vec![Provider::Static(values.into())],
        );
        InstanceState::new(Arc::new(ComponentShared {
            config: resolver.component_config(&manifest.components["c"]),
            stores: Arc::new(Stores::new(Default::default())),
            allowed_stores: vec![],
        }))
    }

    /// The error as the component sees it: `other`'s message, or the variant's name.
    fn describe(err: spin_redis::Error) -> String {
        match err {
            spin_redis::Error::Other(message) => message,
            spin_redis::Error::InvalidAddress => "invalid-address".to_string(),
            spin_redis::Error::TooManyConnections => "too-many-connections".to_string(),
            spin_redis::Error::TypeError => "type-error".to_string(),
        }
    }

    async fn open_error(state: &mut InstanceState, url: &str) -> String {
        describe(
            state
                .open(url.to_string())
                .await
                .expect_err("open should fail"),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn outbound_redis_counts_and_reports_errors_like_spin() {
        let redis = RedisServer::start(&[]);
        let port = redis.port.to_string();
        let url = format!("redis://127.0.0.1:{port}");
        let mut state = instance("127.0.0.1", &port, "");

        let conn = state.open(url.clone()).await.unwrap();
        let rep = conn.rep();
        assert_eq!(
            state
                .incr(Resource::new_borrow(rep), "visits".into())
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            state
                .incr(Resource::new_borrow(rep), "visits".into())
                .await
                .unwrap(),
            2
        );
        state
            .set(Resource::new_borrow(rep), "word".into(), b"hello".to_vec())
            .await
            .unwrap();
        assert_eq!(
            state
                .get(Resource::new_borrow(rep), "word".into())
                .await
                .unwrap(),
            Some(b"hello".to_vec())
        );
        assert_eq!(
            state
                .get(Resource::new_borrow(rep), "absent".into())
                .await
                .unwrap(),
            None
        );
        // A non-integer value is `other`, not `type-error`, and the value is untouched.
        assert_eq!(
            describe(state.incr(Resource::new_borrow(rep), "word".into()).await.unwrap_err()),
            "An error was signalled by the server - ResponseError: value is not an integer or out of range"
        );
        let ping = state
            .execute(Resource::new_borrow(rep), "PING".into(), vec![])
            .await
            .unwrap();
        assert!(matches!(&ping[..], [spin_redis::RedisResult::Status(s)] if s == "PONG"));
        assert_eq!(
            state
                .sadd(
                    Resource::new_borrow(rep),
                    "s".into(),
                    vec!["a".into(), "b".into()]
                )
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            state
                .srem(Resource::new_borrow(rep), "s".into(), vec!["a".into()])
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            state
                .smembers(Resource::new_borrow(rep), "s".into())
                .await
                .unwrap(),
            vec!["b".to_string()]
        );
        assert_eq!(
            state
                .del(Resource::new_borrow(rep), vec!["s".into(), "nope".into()])
                .await
                .unwrap(),
            1
        );
        state.drop(conn).await.unwrap();

        // Not in the allow-list: refused before connecting.
        let other_port = format!("redis://127.0.0.1:{}", redis.port + 1);
        assert_eq!(open_error(&mut state, &other_port).await, "invalid-address");
        drop(redis);
        assert_eq!(
            open_error(&mut state, &url).await,
            "Connection refused (os error 111)"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn outbound_redis_auth_and_dns_errors_like_spin() {
        let redis = RedisServer::start(&["--requirepass", "s3cret"]);
        let port = redis.port.to_string();
        let mut state = instance(
            "127.0.0.1",
            &port,
            ", \"redis://no-such-host.invalid:6379\"",
        );
        // Without a password the connection opens; the first command is refused.
        let conn = state
            .open(format!("redis://127.0.0.1:{port}"))
            .await
            .unwrap();
        assert_eq!(
            describe(state.incr(conn, "visits".into()).await.unwrap_err()),
            "NOAUTH: Authentication required."
        );
        assert_eq!(
            open_error(&mut state, &format!("redis://:wrong@127.0.0.1:{port}")).await,
            "Password authentication failed- AuthenticationFailed"
        );
        assert!(state
            .open(format!("redis://:s3cret@127.0.0.1:{port}"))
            .await
            .is_ok());
        assert_eq!(
            open_error(&mut state, "redis://no-such-host.invalid:6379").await,
            "failed to lookup address information: Name or service not known"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_allow_list_that_is_not_a_host_fails_every_open() {
        let mut state = instance("127.0.0.1", "abc", "");
        assert_eq!(
            open_error(&mut state, "redis://127.0.0.1:6379").await,
            "Invalid allowed host port \"abc\""
        );
        let mut state = instance(":x@h", "6379", "");
        assert_eq!(
            open_error(&mut state, "redis://127.0.0.1:6379").await,
            "Invalid allowed host \":x@h\""
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn key_value_open_checks_the_components_labels() {
        let mut state = instance("127.0.0.1", "6379", "");
        let opened = <InstanceState as store::Host>::open(&mut state, "default".to_string()).await;
        assert!(matches!(opened, Err(store::Error::AccessDenied)));
    }
}
