//! The portable edition: spin-sdk 5.2, `#[http_component]`, WASIp2 through the preview1 adapter.
//! It runs on Spin 3.x and 4.x, containerd-shim-spin up to v0.24 (Spin 3.6 inside), and so on
//! SpinKube clusters with an older shim, and Fermyon Cloud.
//!
//! Spin gives a WASIp2 handler a fresh instance for every request, so each request reads its
//! settings and opens its store anew. All the logic is `counter-core`'s; this file is the edge:
//! spin-sdk 5.2's calls behind `counter_core`'s ports (`RedisPort`, `KvPort`, `Runtime`), and the
//! reply handed to Spin.

use std::future::Future;
use std::time::{Duration, Instant};

use counter_core::{Instance, KvError, KvPort, RedisError, RedisPort, Reply, Runtime, Variables};
use spin_sdk::http::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use spin_sdk::http_component;
use spin_sdk::redis::{self, Connection, RedisParameter, RedisResult};
use spin_sdk::wit::wasi::keyvalue::{atomics, store};

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    let method = http::Method::from(request.method());
    let path = request.path_with_query().unwrap_or_default();
    let reply = Instance::new(Spin).respond(&method, &path).await;
    send(reply, response_out);
}

/// Spin, through spin-sdk 5.2: every call blocks until Spin answers.
struct Spin;

impl Variables for Spin {
    async fn get(&self, name: &'static str) -> Result<String, String> {
        spin_sdk::variables::get(name).map_err(|e| e.to_string())
    }
}

impl RedisPort for Spin {
    type Connection = Connection;

    async fn redis_open(&self, url: &str) -> Result<Connection, RedisError> {
        Connection::open(url).map_err(redis_error)
    }

    async fn redis_incr_by(
        &self,
        connection: &Connection,
        key: &str,
        by: i64,
    ) -> Result<i64, RedisError> {
        let arguments = [
            RedisParameter::Binary(key.into()),
            RedisParameter::Int64(by),
        ];
        match connection
            .execute("INCRBY", &arguments)
            .map_err(redis_error)?
            .as_slice()
        {
            [RedisResult::Int64(value)] => Ok(*value),
            other => Err(RedisError::Other(format!("INCRBY answered {other:?}"))),
        }
    }

    async fn redis_ping(&self, connection: &Connection) -> Result<String, RedisError> {
        match connection
            .execute("PING", &[])
            .map_err(redis_error)?
            .as_slice()
        {
            [RedisResult::Status(status)] => Ok(status.clone()),
            other => Ok(format!("{other:?}")),
        }
    }

    async fn redis_get(
        &self,
        connection: &Connection,
        key: &str,
    ) -> Result<Option<Vec<u8>>, RedisError> {
        connection.get(key).map_err(redis_error)
    }
}

impl KvPort for Spin {
    type Bucket = store::Bucket;

    async fn kv_open(&self, label: &str) -> Result<store::Bucket, KvError> {
        store::open(label).map_err(kv_error)
    }

    async fn kv_increment(&self, bucket: &store::Bucket, key: &str) -> Result<i64, KvError> {
        atomics::increment(bucket, key, 1).map_err(kv_error)
    }

    async fn kv_read(&self, bucket: &store::Bucket, key: &str) -> Result<(), KvError> {
        bucket.get(key).map(drop).map_err(kv_error)
    }
}

impl Runtime for Spin {
    /// The instance serves only this request, so blocking it holds up nothing else.
    async fn pause(&self, wait: Duration) {
        std::thread::sleep(wait);
    }

    /// Every spin-sdk 5.2 call blocks until Spin answers: no timer could interrupt one, so
    /// none is raced against it (a hung Redis holds the request; see the README).
    async fn time_limit(&self, _limit: Duration) {
        std::future::pending::<()>().await;
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    /// The instance serves only this request: the task runs in it, to the end.
    async fn spawn(&self, task: impl Future<Output = ()> + 'static) {
        task.await;
    }
}

fn redis_error(error: redis::Error) -> RedisError {
    match error {
        redis::Error::InvalidAddress => RedisError::InvalidAddress,
        redis::Error::TooManyConnections => RedisError::TooManyConnections,
        redis::Error::TypeError => RedisError::TypeError,
        redis::Error::Other(message) => RedisError::Other(message),
    }
}

fn kv_error(error: store::Error) -> KvError {
    match error {
        store::Error::NoSuchStore => KvError::NoSuchStore,
        store::Error::AccessDenied => KvError::AccessDenied,
        store::Error::Other(message) => KvError::Other(message),
    }
}

/// Hands the reply to Spin with its body written and finished first, so that Spin sends head and
/// body in one write (docs/design.md, "Head and body in one write"); a failure is logged. Built
/// by hand: the SDK's response conversion links anyhow's backtrace printer into the `.wasm`.
fn send(reply: Reply, response_out: ResponseOutparam) {
    let headers = reply.header_fields();
    let response = match Fields::from_list(&headers) {
        Ok(headers) => OutgoingResponse::new(headers),
        Err(e) => return eprintln!("Could not convert response: {e}"),
    };
    let status = reply.status.as_u16();
    if response.set_status_code(status).is_err() {
        return eprintln!("Could not convert response: error setting status code to {status}");
    }
    let Ok(body) = response.body() else {
        return eprintln!("Could not send the response body: it was already taken");
    };
    // The host buffers a body this short; the stream must be gone before the body is finished.
    match body.write() {
        Ok(stream) => {
            for chunk in reply.body.as_bytes().chunks(MAX_BLOCKING_WRITE) {
                if let Err(e) = stream.blocking_write_and_flush(chunk) {
                    return eprintln!("Could not send the response body: {e:?}");
                }
            }
        }
        Err(()) => return eprintln!("Could not send the response body: it is not writable"),
    }
    // Its ErrorCode is not formatted: that formatter alone is 7 KB of the .wasm.
    if OutgoingBody::finish(body, None).is_err() {
        return eprintln!("Could not finish the response body");
    }
    response_out.set(response);
}

/// The most `blocking-write-and-flush` takes in one call (wasi:io/streams).
const MAX_BLOCKING_WRITE: usize = 4096;
