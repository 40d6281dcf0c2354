//! The WASIp3 edge: `#[http_service]` (built for wasm32-wasip1 with the preview1 adapter), one
//! source for two builds: on spin-sdk 7 (WASI 0.3.0) it is the root package, `spin.toml`'s, for
//! Spin 4.1 and newer; on spin-sdk 6 (WASI 0.3.0-rc-2026-03-15) it is `spin40/`'s, for Spin 4.0.x
//! and containerd-shim-spin 0.25. The two SDKs offer this file the same calls.
//!
//! Each of those Spins reuses an instance of its build for up to 128 requests, up to 16 at once,
//! so this module's one [`Instance`] keeps its settings and its Redis connection or key-value
//! bucket for all of them. All the logic is `counter-core`'s; this file is the edge: spin-sdk's
//! calls behind `counter_core`'s ports (`RedisPort`, `KvPort`, `Runtime`), and the reply handed
//! to Spin.

use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use counter_core::{Instance, KvError, KvPort, RedisError, RedisPort, Reply, Runtime, Variables};
use spin_sdk::experimental::wasi::keyvalue::{atomics, store};
use spin_sdk::http::Request;
use spin_sdk::http_service;
use spin_sdk::redis::{self, Connection, RedisParameter, RedisResult};
use spin_sdk::wasip3::http::types::{Fields, Response};
use spin_sdk::wasip3::{wit_future, wit_stream};

thread_local! {
    /// This instance's state: requests it serves at once share it, so it is never borrowed
    /// across an await (see `counter_core::Instance`).
    static INSTANCE: Rc<Instance<Spin>> = Instance::new(Spin);
}

#[http_service]
async fn handle(request: Request) -> Response {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let instance = INSTANCE.with(Rc::clone);
    let reply = instance.respond(request.method(), path).await;
    response(reply).await
}

/// Spin, through spin-sdk 6 or 7: outbound Redis and variables are async, so requests this instance
/// serves at once wait on them together; wasi:keyvalue calls block the instance until they return.
struct Spin;

impl Variables for Spin {
    async fn get(&self, name: &'static str) -> Result<String, String> {
        spin_sdk::variables::get(name)
            .await
            .map_err(|e| e.to_string())
    }
}

impl RedisPort for Spin {
    type Connection = Connection;

    async fn redis_open(&self, url: &str) -> Result<Connection, RedisError> {
        Connection::open(url).await.map_err(redis_error)
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
            .execute("INCRBY", arguments)
            .await
            .map_err(redis_error)?
            .as_slice()
        {
            [RedisResult::Int64(value)] => Ok(*value),
            other => Err(RedisError::Other(format!("INCRBY answered {other:?}"))),
        }
    }

    async fn redis_ping(&self, connection: &Connection) -> Result<String, RedisError> {
        match connection
            .execute("PING", [])
            .await
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
        connection.get(key).await.map_err(redis_error)
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
    /// Waits without blocking the other requests of this instance.
    async fn pause(&self, wait: Duration) {
        spin_sdk::time::sleep(wait).await;
    }

    /// Outbound Redis calls are async here: a timer can win the race and the call is dropped.
    async fn time_limit(&self, limit: Duration) {
        spin_sdk::time::sleep(limit).await;
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    /// A task of this instance (wit-bindgen's `inter-task-wakeup` lets it wake the requests
    /// that wait on it).
    async fn spawn(&self, task: impl Future<Output = ()> + 'static) {
        spin_sdk::wasip3::spawn(task);
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

/// Builds Spin's response with its body write already issued, then yields once, so that Spin
/// sends head and body in one write (docs/design.md, "Head and body in one write"). Built by
/// hand: the SDK's `IntoResponse` goes through `http::HeaderMap` and grows the `.wasm`.
async fn response(reply: Reply) -> Response {
    let headers = reply.header_fields();
    let fields = Fields::from_list(&headers).unwrap_or_else(|e| {
        eprintln!("Could not convert response headers: {e}");
        Fields::new()
    });
    let (mut body_writer, body) = wit_stream::new();
    let (trailers_writer, trailers) = wit_future::new(|| Ok(None));
    let (response, _sent) = Response::new(fields, Some(body), trailers);
    let status = reply.status.as_u16();
    if response.set_status_code(status).is_err() {
        eprintln!("Could not convert response: error setting status code to {status}");
    }
    let mut send_body = Box::pin(async move {
        let unwritten = body_writer.write_all(reply.body.into_bytes()).await;
        if !unwritten.is_empty() {
            eprintln!("Could not send the response body: the client went away");
        }
        drop(body_writer);
        drop(trailers_writer);
    });
    // The first poll issues the write; each later poll (the task's) registers its own waker.
    if poll_fn(|cx| Poll::Ready(send_body.as_mut().poll(cx)))
        .await
        .is_pending()
    {
        spin_sdk::wasip3::spawn(send_body);
    }
    wit_bindgen::yield_async().await;
    response
}
