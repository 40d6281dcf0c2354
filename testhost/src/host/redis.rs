//! Outbound Redis in both of Spin's versions: fermyon:spin/redis@2.0.0 (spin-sdk 5) and
//! spin:redis/redis@3.0.0 (spin-sdk 6 and 7, async). The two share everything but their calling
//! convention: `open` checks the address against the component's resolved allow-list and
//! makes a new multiplexed connection, and every command reports Spin's error values verbatim.
//!
//! The v3 functions run concurrently with the instance's other requests (WASIp3), so they
//! hold the instance's state only to look a connection up, never across an await.

use std::net::SocketAddr;

use redis::aio::MultiplexedConnection;
use redis::io::AsyncDNSResolver;
use redis::{AsyncCommands, AsyncConnectionConfig, FromRedisValue, Value};
use wasmtime::component::{Accessor, HasSelf, Resource};

// The commands work with the v2 types; v3 repeats them exactly and converts at its edge.
use super::fermyon::spin::redis::{self as v2, Error, RedisParameter, RedisResult};
use super::spin::redis::redis as v3;
use super::{ComponentShared, InstanceState};

convert_variant!(v2::Error => v3::Error { InvalidAddress, TooManyConnections, TypeError, Other(message) });
convert_variant!(v3::RedisParameter => v2::RedisParameter { Int64(value), Binary(value) });
convert_variant!(v2::RedisResult => v3::RedisResult { Nil, Status(value), Int64(value), Binary(value) });

/// Spin's per-instance limit on open connections (of both versions together).
const MAX_REDIS_CONNECTIONS: usize = 1024;

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

fn redis_error(err: redis::RedisError) -> Error {
    Error::Other(err.to_string())
}

/// What `open` does in both versions before the connection becomes the instance's: the
/// allow-list check, then a new connection (no timeouts, as in Spin).
async fn connect(shared: &ComponentShared, address: &str) -> Result<MultiplexedConnection, Error> {
    match &shared.config.allowed_hosts {
        Err(message) => return Err(Error::Other(message.clone())),
        Ok(hosts) if !hosts.allows_url(address, "redis") => return Err(Error::InvalidAddress),
        Ok(_) => {}
    }
    let client = redis::Client::open(address).map_err(|_| Error::InvalidAddress)?;
    let config = AsyncConnectionConfig::new().set_dns_resolver(TokioResolver);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(redis_error)
}

impl InstanceState {
    /// Makes `conn` one of the instance's connections, within Spin's limit.
    fn keep_redis_connection(
        &mut self,
        conn: MultiplexedConnection,
    ) -> Result<Resource<RedisConnection>, Error> {
        if self.redis_connections >= MAX_REDIS_CONNECTIONS {
            return Err(Error::TooManyConnections);
        }
        let resource = self
            .table
            .push(RedisConnection(conn))
            .map_err(|_| Error::TooManyConnections)?;
        self.redis_connections += 1;
        Ok(resource)
    }

    fn drop_redis_connection(&mut self, conn: Resource<RedisConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        self.redis_connections -= 1;
        Ok(())
    }

    /// A handle of its own to the connection behind `conn`, for one command.
    fn redis(&self, conn: &Resource<RedisConnection>) -> Result<Commands, Error> {
        self.table
            .get(conn)
            .map(|c| Commands(c.0.clone()))
            .map_err(|_| Error::Other("could not find connection for resource".into()))
    }
}

/// The commands of both versions, each run on its own clone of a multiplexed connection,
/// so that concurrent commands on one connection are pipelined, not serialised.
struct Commands(MultiplexedConnection);

impl Commands {
    async fn get(mut self, key: String) -> Result<Option<Vec<u8>>, Error> {
        self.0.get(&key).await.map_err(redis_error)
    }

    async fn execute(
        mut self,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, Error> {
        let mut cmd = redis::cmd(&command);
        for argument in arguments {
            match argument {
                RedisParameter::Int64(v) => cmd.arg(v),
                RedisParameter::Binary(v) => cmd.arg(v),
            };
        }
        let Flattened(results) = cmd.query_async(&mut self.0).await.map_err(redis_error)?;
        Ok(results)
    }
}

/// The calls the component never makes, in both versions: an error that says so, never a fake
/// success.
fn unsupported<T>(call: &str) -> Result<T, Error> {
    Err(Error::Other(format!(
        "redis `{call}` is not supported by the test host (it models `open`, `get` and `execute`)"
    )))
}

// ---- fermyon:spin/redis@2.0.0: called with the instance's state ----------------------------

impl v2::Host for InstanceState {}

impl v2::HostConnection for InstanceState {
    async fn open(&mut self, address: String) -> Result<Resource<RedisConnection>, Error> {
        let conn = connect(&self.shared, &address).await?;
        self.keep_redis_connection(conn)
    }

    async fn publish(
        &mut self,
        _: Resource<RedisConnection>,
        _: String,
        _: Vec<u8>,
    ) -> Result<(), Error> {
        unsupported("publish")
    }

    async fn get(
        &mut self,
        conn: Resource<RedisConnection>,
        key: String,
    ) -> Result<Option<Vec<u8>>, Error> {
        self.redis(&conn)?.get(key).await
    }

    async fn set(
        &mut self,
        _: Resource<RedisConnection>,
        _: String,
        _: Vec<u8>,
    ) -> Result<(), Error> {
        unsupported("set")
    }

    async fn incr(&mut self, _: Resource<RedisConnection>, _: String) -> Result<i64, Error> {
        unsupported("incr")
    }

    async fn del(&mut self, _: Resource<RedisConnection>, _: Vec<String>) -> Result<u32, Error> {
        unsupported("del")
    }

    async fn sadd(
        &mut self,
        _: Resource<RedisConnection>,
        _: String,
        _: Vec<String>,
    ) -> Result<u32, Error> {
        unsupported("sadd")
    }

    async fn smembers(
        &mut self,
        _: Resource<RedisConnection>,
        _: String,
    ) -> Result<Vec<String>, Error> {
        unsupported("smembers")
    }

    async fn srem(
        &mut self,
        _: Resource<RedisConnection>,
        _: String,
        _: Vec<String>,
    ) -> Result<u32, Error> {
        unsupported("srem")
    }

    async fn execute(
        &mut self,
        conn: Resource<RedisConnection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, Error> {
        self.redis(&conn)?.execute(command, arguments).await
    }

    async fn drop(&mut self, conn: Resource<RedisConnection>) -> wasmtime::Result<()> {
        self.drop_redis_connection(conn)
    }
}

// ---- spin:redis/redis@3.0.0: called with an accessor, concurrently ------------------------

/// The commands for `conn`, looked up in the instance's state without keeping hold of it.
fn redis_of<T>(
    accessor: &Accessor<T, HasSelf<InstanceState>>,
    conn: &Resource<RedisConnection>,
) -> Result<Commands, Error> {
    accessor.with(|mut access| access.get().redis(conn))
}

impl v3::Host for InstanceState {}

impl v3::HostConnection for InstanceState {
    async fn drop(&mut self, conn: Resource<RedisConnection>) -> wasmtime::Result<()> {
        self.drop_redis_connection(conn)
    }
}

impl<T: Send> v3::HostConnectionWithStore<T> for HasSelf<InstanceState> {
    async fn open(
        accessor: &Accessor<T, Self>,
        address: String,
    ) -> Result<Resource<RedisConnection>, v3::Error> {
        let shared = accessor.with(|mut access| access.get().shared.clone());
        let conn = connect(&shared, &address).await?;
        Ok(accessor.with(|mut access| access.get().keep_redis_connection(conn))?)
    }

    async fn publish(
        _: &Accessor<T, Self>,
        _: Resource<RedisConnection>,
        _: String,
        _: Vec<u8>,
    ) -> Result<(), v3::Error> {
        Ok(unsupported("publish")?)
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        conn: Resource<RedisConnection>,
        key: String,
    ) -> Result<Option<Vec<u8>>, v3::Error> {
        Ok(redis_of(accessor, &conn)?.get(key).await?)
    }

    async fn set(
        _: &Accessor<T, Self>,
        _: Resource<RedisConnection>,
        _: String,
        _: Vec<u8>,
    ) -> Result<(), v3::Error> {
        Ok(unsupported("set")?)
    }

    async fn incr(
        _: &Accessor<T, Self>,
        _: Resource<RedisConnection>,
        _: String,
    ) -> Result<i64, v3::Error> {
        Ok(unsupported("incr")?)
    }

    async fn del(
        _: &Accessor<T, Self>,
        _: Resource<RedisConnection>,
        _: Vec<String>,
    ) -> Result<u32, v3::Error> {
        Ok(unsupported("del")?)
    }

    async fn sadd(
        _: &Accessor<T, Self>,
        _: Resource<RedisConnection>,
        _: String,
        _: Vec<String>,
    ) -> Result<u32, v3::Error> {
        Ok(unsupported("sadd")?)
    }

    async fn smembers(
        _: &Accessor<T, Self>,
        _: Resource<RedisConnection>,
        _: String,
    ) -> Result<Vec<String>, v3::Error> {
        Ok(unsupported("smembers")?)
    }

    async fn srem(
        _: &Accessor<T, Self>,
        _: Resource<RedisConnection>,
        _: String,
        _: Vec<String>,
    ) -> Result<u32, v3::Error> {
        Ok(unsupported("srem")?)
    }

    async fn execute(
        accessor: &Accessor<T, Self>,
        conn: Resource<RedisConnection>,
        command: String,
        arguments: Vec<v3::RedisParameter>,
    ) -> Result<Vec<v3::RedisResult>, v3::Error> {
        let arguments = arguments.into_iter().map(Into::into).collect();
        let results = redis_of(accessor, &conn)?
            .execute(command, arguments)
            .await?;
        Ok(results.into_iter().map(Into::into).collect())
    }
}

/// An `execute` reply flattened into `redis-result`s, with Spin's conversions.
struct Flattened(Vec<RedisResult>);

impl FromRedisValue for Flattened {
    fn from_redis_value(value: &Value) -> redis::RedisResult<Self> {
        fn unsupported(what: &str) -> redis::RedisError {
            redis::RedisError::from((
                redis::ErrorKind::TypeError,
                "Could not convert Redis response",
                format!("Redis {what} is not supported"),
            ))
        }
        fn push(out: &mut Vec<RedisResult>, value: &Value) -> redis::RedisResult<()> {
            use RedisResult as R;
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

#[cfg(test)]
mod tests {
    use super::v2::HostConnection as _;
    use super::*;
    use crate::host::test_support::{instance, run_concurrent};
    use counter_core::spin_says;
    use std::process::{Child, Command, Stdio};

    /// The v3 functions, as a WASIp3 instance calls them.
    type V3 = HasSelf<InstanceState>;

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

    /// The error as the component sees it, of either version: `other`'s message, or the
    /// variant's name.
    fn describe(err: impl Into<v3::Error>) -> String {
        match err.into() {
            v3::Error::Other(message) => message,
            v3::Error::InvalidAddress => "invalid-address".to_string(),
            v3::Error::TooManyConnections => "too-many-connections".to_string(),
            v3::Error::TypeError => "type-error".to_string(),
        }
    }

    /// `INCRBY key 1` through `execute`, as the component counts.
    async fn incr_by(state: &mut InstanceState, rep: u32, key: &str) -> Result<i64, Error> {
        let arguments = vec![
            RedisParameter::Binary(key.as_bytes().to_vec()),
            RedisParameter::Int64(1),
        ];
        let reply = state
            .execute(Resource::new_borrow(rep), "INCRBY".into(), arguments)
            .await?;
        match &reply[..] {
            [RedisResult::Int64(n)] => Ok(*n),
            other => panic!("INCRBY answered {other:?}"),
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
        for expected in 1..=2 {
            assert_eq!(incr_by(&mut state, rep, "visits").await.unwrap(), expected);
        }
        let set = vec![
            RedisParameter::Binary(b"word".to_vec()),
            RedisParameter::Binary(b"hello".to_vec()),
        ];
        state
            .execute(Resource::new_borrow(rep), "SET".into(), set)
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
            describe(incr_by(&mut state, rep, "word").await.unwrap_err()),
            spin_says::NOT_AN_INTEGER
        );
        let ping = state
            .execute(Resource::new_borrow(rep), "PING".into(), vec![])
            .await
            .unwrap();
        assert!(matches!(&ping[..], [RedisResult::Status(s)] if s == "PONG"));
        // A call the component never makes is refused, and says so.
        assert_eq!(
            describe(
                state
                    .sadd(Resource::new_borrow(rep), "s".into(), vec!["a".into()])
                    .await
                    .unwrap_err()
            ),
            "redis `sadd` is not supported by the test host (it models `open`, `get` and `execute`)"
        );
        state.drop(conn).await.unwrap();

        // Not in the allow-list: refused before connecting.
        let other_port = format!("redis://127.0.0.1:{}", redis.port + 1);
        assert_eq!(open_error(&mut state, &other_port).await, "invalid-address");
        drop(redis);
        assert_eq!(open_error(&mut state, &url).await, spin_says::REFUSED);
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
            describe(incr_by(&mut state, conn.rep(), "visits").await.unwrap_err()),
            spin_says::NOAUTH
        );
        assert_eq!(
            open_error(&mut state, &format!("redis://:wrong@127.0.0.1:{port}")).await,
            spin_says::WRONG_PASSWORD
        );
        assert!(state
            .open(format!("redis://:s3cret@127.0.0.1:{port}"))
            .await
            .is_ok());
        assert_eq!(
            open_error(&mut state, "redis://no-such-host.invalid:6379").await,
            spin_says::UNKNOWN_HOST
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_allow_list_that_is_not_a_host_fails_every_open() {
        let mut state = instance("127.0.0.1", "abc", "");
        assert_eq!(
            open_error(&mut state, "redis://127.0.0.1:6379").await,
            spin_says::INVALID_ALLOWED_PORT
        );
        let mut state = instance(":x@h", "6379", "");
        assert_eq!(
            open_error(&mut state, "redis://127.0.0.1:6379").await,
            "Invalid allowed host \":x@h\""
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn v3_calls_share_one_connection_at_once_and_fail_like_v2() {
        use v3::HostConnectionWithStore as _;
        let redis = RedisServer::start(&[]);
        let port = redis.port.to_string();
        let url = format!("redis://127.0.0.1:{port}");
        let state = instance("127.0.0.1", &port, "");

        let (counts, incrby, errors) = run_concurrent(state, async |accessor| {
            let conn = V3::open(accessor, url.clone()).await.unwrap();
            let borrow = || Resource::new_borrow(conn.rep());
            let incr_by = |key: &str| {
                let arguments = vec![
                    v3::RedisParameter::Binary(key.as_bytes().to_vec()),
                    v3::RedisParameter::Int64(1),
                ];
                V3::execute(accessor, borrow(), "INCRBY".into(), arguments)
            };
            // 64 INCRBYs in flight together on the one connection: every number once.
            let incrs = (0..64).map(|_| incr_by("visits"));
            let mut counts: Vec<i64> = futures::future::join_all(incrs)
                .await
                .into_iter()
                .map(|reply| match &reply.unwrap()[..] {
                    [v3::RedisResult::Int64(n)] => *n,
                    other => panic!("INCRBY answered {other:?}"),
                })
                .collect();
            counts.sort();
            let incrby = V3::execute(
                accessor,
                borrow(),
                "INCRBY".into(),
                vec![
                    v3::RedisParameter::Binary(b"visits".to_vec()),
                    v3::RedisParameter::Int64(10),
                ],
            )
            .await
            .unwrap();
            let set = vec![
                v3::RedisParameter::Binary(b"word".to_vec()),
                v3::RedisParameter::Binary(b"hello".to_vec()),
            ];
            V3::execute(accessor, borrow(), "SET".into(), set)
                .await
                .unwrap();
            let mut errors = vec![describe(incr_by("word").await.unwrap_err())];
            let other_port = format!("redis://127.0.0.1:{}", redis.port + 1);
            errors.push(describe(V3::open(accessor, other_port).await.unwrap_err()));
            drop(redis);
            errors.push(describe(V3::open(accessor, url).await.unwrap_err()));
            (counts, incrby, errors)
        })
        .await;

        assert_eq!(counts, (1..=64).collect::<Vec<i64>>());
        assert!(matches!(&incrby[..], [v3::RedisResult::Int64(74)]));
        assert_eq!(
            errors,
            [
                spin_says::NOT_AN_INTEGER,
                "invalid-address",
                spin_says::REFUSED
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn v3_open_reports_an_allow_list_that_is_not_a_host() {
        use v3::HostConnectionWithStore as _;
        let state = instance("127.0.0.1", "abc", "");
        let error = run_concurrent(state, async |accessor| {
            V3::open(accessor, "redis://127.0.0.1:6379".into()).await
        })
        .await;
        assert_eq!(
            describe(error.unwrap_err()),
            spin_says::INVALID_ALLOWED_PORT
        );
    }
}
