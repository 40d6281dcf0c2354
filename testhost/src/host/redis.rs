//! fermyon:spin/redis: outbound Redis, a new multiplexed connection per `open`, checked
//! against the component's resolved allow-list first, with Spin's error values verbatim.

use std::net::SocketAddr;

use redis::aio::MultiplexedConnection;
use redis::io::AsyncDNSResolver;
use redis::{AsyncCommands, AsyncConnectionConfig, FromRedisValue, Value};
use wasmtime::component::Resource;

use super::fermyon::spin::redis as spin_redis;
use super::InstanceState;

/// Spin's per-instance limit on open connections.
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

#[cfg(test)]
mod tests {
    use super::spin_redis::HostConnection as _;
    use super::*;
    use crate::host::test_support::instance;
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
}
