//! One component instance: what it keeps between the requests it serves, and how it serves one.
//!
//! Spin 4 reuses a WASIp3 instance for up to 128 requests, up to 16 at once; a WASIp2 instance
//! serves one request and is dropped. So an instance keeps its validated settings and the Redis
//! connection or key-value bucket it opened, and later requests use them. A kept handle whose call
//! fails is dropped, so the next request opens a new one; the failing request itself is answered
//! with its failure and not retried on a new connection, because an INCRBY whose answer was lost
//! may still have been applied. A kept Redis connection that has been idle is checked with a
//! `PING` (which changes nothing) before an INCRBY goes out on it, so a Redis restarted while the
//! instance was quiet costs no visit; and no Redis call may take longer than `redis_timeout`.
//! On outbound Redis the requests served at once count together, one `INCRBY` for all of them
//! (`batch.rs`), sent by a task of the instance so that no request's future carries another's.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};

use crate::batch::Batches;
use crate::classify::{kv_failure, redis_failure, redis_name, KvError, RedisError, KV_STORE};
use crate::error::Failure;
use crate::race;
use crate::reply::Reply;
use crate::retry;
use crate::routes::{self, Endpoint, Route};
use crate::settings::{RedisTarget, Settings, Store, Variables};

/// The welcome body of `GET /`.
pub const WELCOME: &str = "Welcome! Go to /count to increment the visit counter.";

/// A kept Redis connection that has not answered for this long is checked with a `PING` before
/// it carries an INCRBY. Under load every connection answers far more often, so the check costs
/// nothing there; no Redis stops and starts again this fast (a local one restarts in well under
/// 100 ms), so a connection a restart broke is found out.
pub const CHECK_IDLE_AFTER: Duration = Duration::from_millis(10);

/// What an edition's SDK gives the shared logic: Spin's variables, outbound Redis and key-value
/// store, and a way to wait. Errors come back in the shapes of Spin's WIT.
#[allow(async_fn_in_trait)] // a component instance is single-threaded: nothing here needs Send
pub trait Host: Variables {
    /// An open outbound Redis connection.
    type Connection;
    /// An open key-value store.
    type Bucket;

    async fn redis_open(&self, url: &str) -> Result<Self::Connection, RedisError>;
    /// `INCRBY key by`: adds `by` to `key`, atomically, and returns the new value.
    async fn redis_incr_by(
        &self,
        connection: &Self::Connection,
        key: &str,
        by: i64,
    ) -> Result<i64, RedisError>;
    /// Sends `PING`; returns the reply as text, `PONG` when all is well.
    async fn redis_ping(&self, connection: &Self::Connection) -> Result<String, RedisError>;
    /// `GET key`: the value, if the key exists.
    async fn redis_get(
        &self,
        connection: &Self::Connection,
        key: &str,
    ) -> Result<Option<Vec<u8>>, RedisError>;
    async fn kv_open(&self, label: &str) -> Result<Self::Bucket, KvError>;
    /// Adds one to `key`, atomically, and returns the new value.
    async fn kv_increment(&self, bucket: &Self::Bucket, key: &str) -> Result<i64, KvError>;
    /// Reads `key` and forgets the value: a readiness check.
    async fn kv_read(&self, bucket: &Self::Bucket, key: &str) -> Result<(), KvError>;
    /// Waits before a retry.
    async fn pause(&self, wait: Duration);
    /// Finishes once `limit` has passed, without holding up the instance's other requests, so
    /// a Redis call can be raced against it; never finishes in an edition whose Redis calls
    /// block the instance until they return (nothing could interrupt them).
    async fn time_limit(&self, limit: Duration);
    /// The monotonic clock.
    fn now(&self) -> Instant;
    /// Runs `task` as a task of the instance, beside the request that starts it, so that it
    /// goes on if that request's future is dropped. An edition whose instance serves a single
    /// request runs it in place: there, the request's end is the instance's end.
    async fn spawn(&self, task: impl Future<Output = ()> + 'static);
}

/// One component instance's state, shared by every request it serves.
pub struct Instance<H: Host> {
    host: H,
    settings: Kept<Settings>,
    connection: Kept<Link<H::Connection>>,
    batches: Batches,
    bucket: Kept<H::Bucket>,
}

impl<H: Host + 'static> Instance<H> {
    pub fn new(host: H) -> Rc<Self> {
        Rc::new(Instance {
            host,
            settings: Kept::default(),
            connection: Kept::default(),
            batches: Batches::default(),
            bucket: Kept::default(),
        })
    }

    /// Serves one request. Every outcome is a plain-text reply; 5xx ones are also logged to
    /// stderr (which Spin keeps), and no reply or log line ever holds the Redis password.
    pub async fn respond(self: &Rc<Self>, method: &Method, path: &str) -> Reply {
        let reply = self.serve(routes::route(method, path)).await;
        if reply.status.is_server_error() {
            eprintln!("{method} {path} -> {}: {}", reply.status, reply.body);
        }
        reply
    }

    /// The reply to a routed request; settings are read only by the endpoints that need them.
    async fn serve(self: &Rc<Self>, route: Route) -> Reply {
        let outcome = match route {
            Route::NotFound => return Reply::plain(StatusCode::NOT_FOUND, "Not found".into()),
            Route::MethodNotAllowed { allow } => {
                return Reply::plain(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed".into())
                    .with_header("allow", allow);
            }
            Route::Serve(Endpoint::Welcome) => Ok(WELCOME.to_string()),
            Route::Serve(Endpoint::Health) => Ok("ok".to_string()),
            Route::Serve(Endpoint::Count) => {
                (self.count().await).map(|n| format!("Visit count: {n}"))
            }
            Route::Serve(Endpoint::Ready) => (self.ready().await).map(|()| "ready".to_string()),
        };
        match outcome {
            Ok(body) => Reply::plain(StatusCode::OK, body),
            Err(failure) => Reply::failure(&failure),
        }
    }

    /// The settings, read from Spin's variables by the first request that needs them. Only
    /// valid settings are kept: a variable that could not be read is read again next time.
    async fn settings(&self) -> Result<Rc<Settings>, Failure> {
        match self.settings.get() {
            Some(settings) => Ok(settings),
            None => Ok(self.settings.keep(Settings::read(&self.host).await?)),
        }
    }

    async fn count(self: &Rc<Self>) -> Result<i64, Failure> {
        let settings = self.settings().await?;
        let key = settings.key.as_str();
        match &settings.store {
            Store::Redis(target) => {
                let (seat, start_sender) = self.batches.join(self.host.now());
                if start_sender {
                    let (instance, target) = (Rc::clone(self), Rc::clone(target));
                    let settings = Rc::clone(&settings);
                    let sender = async move { instance.send_batches(&target, &settings.key).await };
                    self.host.spawn(sender).await;
                }
                seat.outcome().await
            }
            Store::KeyValue => {
                let increment = async |b: &H::Bucket| self.host.kv_increment(b, key).await;
                self.on_kv(key, increment).await
            }
        }
    }

    /// Sends the waiting `/count` requests to Redis, one `INCRBY` for each batch of them, until
    /// none waits. Each batch has the time left to its oldest request; one whose outcome is
    /// unknown (a lost connection, a timeout) fails all of its requests and is never sent again.
    async fn send_batches(&self, target: &RedisTarget, key: &str) {
        while let Some(batch) = self.batches.next() {
            let (by, arrived) = (batch.size(), batch.arrived());
            let incr_by = async |c: &H::Connection| self.host.redis_incr_by(c, key, by).await;
            batch.settle(self.on_redis(target, key, arrived, incr_by).await);
        }
    }

    async fn ready(&self) -> Result<(), Failure> {
        let settings = self.settings().await?;
        let key = settings.key.as_str();
        match &settings.store {
            // Reading the key, not only a PING: what stops an INCRBY (a Redis Cluster node that
            // does not own the key, a value that is not an integer) stops readiness too.
            Store::Redis(target) => {
                let read = async |c: &H::Connection| self.host.redis_get(c, key).await;
                match self.on_redis(target, key, self.host.now(), read).await? {
                    Some(value)
                        if std::str::from_utf8(&value).is_ok_and(|v| v.parse::<i64>().is_ok()) =>
                    {
                        Ok(())
                    }
                    Some(_) => Err(Failure::NotAnInteger { key: key.into() }),
                    None => Ok(()),
                }
            }
            Store::KeyValue => {
                let read = async |b: &H::Bucket| self.host.kv_read(b, key).await;
                self.on_kv(key, read).await
            }
        }
    }

    /// One call on the kept Redis connection (opened first when none is kept, checked first
    /// when it has been idle), all of it within the target's timeout from `start`. A connection
    /// whose call failed or timed out is dropped: its state is unknown, and the call is not sent
    /// again.
    async fn on_redis<T>(
        &self,
        target: &RedisTarget,
        key: &str,
        start: Instant,
        call: impl AsyncFnOnce(&H::Connection) -> Result<T, RedisError>,
    ) -> Result<T, Failure> {
        let deadline = start + target.timeout;
        let link = self.redis_link(target, key, start, deadline).await?;
        let outcome = (self.before(deadline, target, key, call(&link.connection))).await;
        match outcome {
            Ok(_) => link.answered.set(self.host.now()),
            Err(_) => self.connection.forget(&link),
        }
        outcome
    }

    /// The connection to send a call on: the kept one if it answered lately or answers a
    /// `PING` now, else a new one. Only a timeout is final here: a failed `PING` changed
    /// nothing, so a new connection is opened in its place.
    async fn redis_link(
        &self,
        target: &RedisTarget,
        key: &str,
        start: Instant,
        deadline: Instant,
    ) -> Result<Rc<Link<H::Connection>>, Failure> {
        if let Some(link) = self.connection.get() {
            if start.saturating_duration_since(link.answered.get()) < CHECK_IDLE_AFTER {
                return Ok(link);
            }
            let ping = self.host.redis_ping(&link.connection);
            match self.before(deadline, target, key, ping).await {
                Ok(pong) if pong == "PONG" => {
                    link.answered.set(self.host.now());
                    return Ok(link);
                }
                Err(timed_out @ Failure::TimedOut { .. }) => {
                    self.connection.forget(&link);
                    return Err(timed_out);
                }
                _ => self.connection.forget(&link),
            }
        }
        let url = target.url();
        let connection = (self.before(deadline, target, key, self.host.redis_open(&url))).await?;
        Ok(self.connection.keep(Link {
            connection,
            answered: Cell::new(self.host.now()),
        }))
    }

    /// `call`'s outcome as a failure the user can act on, or [`Failure::TimedOut`] if it has
    /// not come by `deadline`.
    async fn before<T>(
        &self,
        deadline: Instant,
        target: &RedisTarget,
        key: &str,
        call: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, Failure> {
        let call = async {
            call.await
                .map_err(|error| redis_failure(target, error, key))
        };
        let timer = async {
            let left = deadline.saturating_duration_since(self.host.now());
            self.host.time_limit(left).await;
            Err(Failure::TimedOut {
                store: redis_name(target),
                after: target.timeout,
            })
        };
        race::first(call, timer).await
    }

    /// One call on the kept key-value bucket, retried while the store answers busy (which
    /// means it changed nothing).
    async fn on_kv<T>(
        &self,
        key: &str,
        call: impl AsyncFn(&H::Bucket) -> Result<T, KvError>,
    ) -> Result<T, Failure> {
        let failure = |error| kv_failure(error, key);
        let attempt = async || {
            let open = async || self.host.kv_open(KV_STORE).await.map_err(failure);
            let call = async |b: &H::Bucket| call(b).await.map_err(failure);
            self.bucket.call(open, call).await
        };
        retry::KV_BUSY
            .run(attempt, |wait| self.host.pause(wait))
            .await
    }
}

/// A kept Redis connection, and when it last answered.
struct Link<C> {
    connection: C,
    answered: Cell<Instant>,
}

/// A value kept for the instance's later requests.
struct Kept<T>(RefCell<Option<Rc<T>>>);

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Kept(RefCell::new(None))
    }
}

impl<T> Kept<T> {
    fn get(&self) -> Option<Rc<T>> {
        self.0.borrow().clone()
    }

    /// Keeps `value`, unless a request that ran alongside kept one first: then that one.
    fn keep(&self, value: T) -> Rc<T> {
        self.0
            .borrow_mut()
            .get_or_insert_with(|| Rc::new(value))
            .clone()
    }

    /// Forgets `failed` if it is still the kept value (another request may have replaced it).
    fn forget(&self, failed: &Rc<T>) {
        let mut kept = self.0.borrow_mut();
        if kept.as_ref().is_some_and(|value| Rc::ptr_eq(value, failed)) {
            *kept = None;
        }
    }

    /// Calls `call` on the kept value, made with `open` if none is kept; a failed call forgets
    /// the value it was made on. No borrow is held across an await, so requests interleave.
    async fn call<R>(
        &self,
        open: impl AsyncFnOnce() -> Result<T, Failure>,
        call: impl AsyncFnOnce(&T) -> Result<R, Failure>,
    ) -> Result<R, Failure> {
        let value = match self.get() {
            Some(value) => value,
            None => self.keep(open().await?),
        };
        let outcome = call(&value).await;
        if outcome.is_err() {
            self.forget(&value);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::TEXT_PLAIN;
    use crate::test_support::{default_variables, join_all, yield_now, Tasks};
    use std::cell::Cell;
    use std::collections::{HashMap, VecDeque};

    /// A Redis connection or bucket the fake host opened: its number, counting from 1.
    type Handle = u32;

    /// The calls the fake host can be told to hang on (answer only long after any timer).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Call {
        Open,
        Incr,
        Ping,
        Get,
    }

    /// The fake host's monotonic clock: it moves only when a test or a timer moves it.
    struct Clock {
        start: Instant,
        elapsed: Cell<Duration>,
    }

    impl Default for Clock {
        fn default() -> Self {
            Clock {
                start: Instant::now(),
                elapsed: Cell::default(),
            }
        }
    }

    /// A scripted Spin: variables from a map, one integer as the store, and queues of failures
    /// that its next calls answer with. Every call yields once, so concurrent requests interleave.
    #[derive(Default)]
    struct FakeHost {
        variables: HashMap<&'static str, String>,
        variable_reads: Cell<u32>,
        value: Cell<i64>,
        opens: Cell<u32>,
        /// Every increment applied, with the handle it came through.
        applied: RefCell<Vec<Handle>>,
        /// What each `INCRBY` added.
        incr_bys: RefCell<Vec<i64>>,
        open_failures: RefCell<VecDeque<String>>,
        call_failures: RefCell<VecDeque<String>>,
        pauses: RefCell<Vec<Duration>>,
        pings: Cell<u32>,
        /// `GET`s of the key, and what the key holds when it is not the count.
        reads: Cell<u32>,
        stored: RefCell<Option<String>>,
        ping_failures: RefCell<VecDeque<String>>,
        /// The next calls of these kinds hang.
        hangs: RefCell<VecDeque<Call>>,
        /// Every time limit a call was raced against.
        limits: RefCell<Vec<Duration>>,
        clock: Clock,
        tasks: Tasks,
    }

    impl FakeHost {
        fn with(overrides: &[(&'static str, &str)]) -> Self {
            let mut variables = default_variables();
            for (name, value) in overrides {
                variables.insert(name, value.to_string());
            }
            FakeHost {
                variables,
                ..FakeHost::default()
            }
        }

        fn kv() -> Self {
            FakeHost::with(&[("counter_store", "kv")])
        }

        /// The next `times` calls on an open handle fail with `message`.
        fn failing_calls(self, message: &str, times: usize) -> Self {
            self.call_failures
                .borrow_mut()
                .extend(std::iter::repeat_n(message.to_string(), times));
            self
        }

        fn failing_opens(self, message: &str, times: usize) -> Self {
            self.open_failures
                .borrow_mut()
                .extend(std::iter::repeat_n(message.to_string(), times));
            self
        }

        /// The next call on an open handle fails with `message`.
        fn fail_next_call(&self, message: &str) {
            self.call_failures.borrow_mut().push_back(message.into());
        }

        fn hang_on(self, call: Call) -> Self {
            self.hangs.borrow_mut().push_back(call);
            self
        }

        fn advance(&self, by: Duration) {
            self.clock.elapsed.set(self.clock.elapsed.get() + by);
        }

        /// A call answers after one yield and 10 ms, or, if it is the next to hang, after many
        /// yields: by then any timer raced against it has finished.
        async fn answer(&self, call: Call) {
            let hang = self.hangs.borrow().front() == Some(&call);
            let yields = if hang {
                self.hangs.borrow_mut().pop_front();
                100
            } else {
                1
            };
            for _ in 0..yields {
                yield_now().await;
            }
            self.advance(ROUND_TRIP);
        }

        async fn open(&self) -> Result<Handle, String> {
            self.answer(Call::Open).await;
            match self.open_failures.borrow_mut().pop_front() {
                Some(message) => Err(message),
                None => {
                    self.opens.set(self.opens.get() + 1);
                    Ok(self.opens.get())
                }
            }
        }

        async fn increment(&self, handle: Handle, by: i64) -> Result<i64, String> {
            self.answer(Call::Incr).await;
            if let Some(message) = self.call_failures.borrow_mut().pop_front() {
                return Err(message);
            }
            self.applied.borrow_mut().push(handle);
            self.value.set(self.value.get() + by);
            Ok(self.value.get())
        }
    }

    impl Variables for FakeHost {
        async fn get(&self, name: &'static str) -> Result<String, String> {
            self.variable_reads.set(self.variable_reads.get() + 1);
            self.variables
                .get(name)
                .cloned()
                .ok_or_else(|| format!("{name} is not declared"))
        }
    }

    impl Host for FakeHost {
        type Connection = Handle;
        type Bucket = Handle;

        async fn redis_open(&self, _url: &str) -> Result<Handle, RedisError> {
            self.open().await.map_err(RedisError::Other)
        }

        async fn redis_incr_by(
            &self,
            connection: &Handle,
            _key: &str,
            by: i64,
        ) -> Result<i64, RedisError> {
            self.incr_bys.borrow_mut().push(by);
            self.increment(*connection, by)
                .await
                .map_err(RedisError::Other)
        }

        async fn redis_get(
            &self,
            _connection: &Handle,
            _key: &str,
        ) -> Result<Option<Vec<u8>>, RedisError> {
            self.reads.set(self.reads.get() + 1);
            self.answer(Call::Get).await;
            if let Some(message) = self.call_failures.borrow_mut().pop_front() {
                return Err(RedisError::Other(message));
            }
            let value = self.value.get();
            Ok((value != 0).then(|| {
                self.stored
                    .borrow()
                    .clone()
                    .unwrap_or(value.to_string())
                    .into_bytes()
            }))
        }

        async fn redis_ping(&self, _connection: &Handle) -> Result<String, RedisError> {
            self.pings.set(self.pings.get() + 1);
            self.answer(Call::Ping).await;
            match self.ping_failures.borrow_mut().pop_front() {
                Some(message) => Err(RedisError::Other(message)),
                None => Ok("PONG".to_string()),
            }
        }

        async fn kv_open(&self, label: &str) -> Result<Handle, KvError> {
            assert_eq!(label, "default");
            self.open().await.map_err(KvError::Other)
        }

        async fn kv_increment(&self, bucket: &Handle, _key: &str) -> Result<i64, KvError> {
            self.increment(*bucket, 1).await.map_err(KvError::Other)
        }

        async fn kv_read(&self, _bucket: &Handle, _key: &str) -> Result<(), KvError> {
            self.pings.set(self.pings.get() + 1);
            Ok(())
        }

        async fn pause(&self, wait: Duration) {
            self.pauses.borrow_mut().push(wait);
        }

        /// Finishes after a few yields, moving the clock on by `limit`: a call that answers
        /// at once beats it, a hung one does not.
        async fn time_limit(&self, limit: Duration) {
            self.limits.borrow_mut().push(limit);
            for _ in 0..3 {
                yield_now().await;
            }
            self.advance(limit);
        }

        fn now(&self) -> Instant {
            self.clock.start + self.clock.elapsed.get()
        }

        async fn spawn(&self, task: impl Future<Output = ()> + 'static) {
            self.tasks.spawn(task);
        }
    }

    /// How long each call of the fake host takes.
    const ROUND_TRIP: Duration = Duration::from_millis(10);
    use crate::spin_says::{BROKEN_PIPE, NOT_AN_INTEGER, REFUSED, RESET, SQLITE_BUSY as LOCKED};
    const TIMED_OUT: &str = "Redis at 127.0.0.1:6379 did not answer within 2 s";

    fn call(instance: &Rc<Instance<FakeHost>>, method: Method, path: &str) -> Reply {
        let replies = join_all(&instance.host.tasks, vec![instance.respond(&method, path)]);
        replies.into_iter().next().expect("one reply")
    }

    fn get(instance: &Rc<Instance<FakeHost>>, path: &str) -> Reply {
        call(instance, Method::GET, path)
    }

    fn header<'r>(reply: &'r Reply, name: &str) -> Option<&'r str> {
        let mut values = reply.headers.iter().filter(|(n, _)| *n == name);
        let value = values.next().map(|&(_, value)| value);
        assert!(values.next().is_none(), "{name} is sent twice");
        value
    }

    #[track_caller]
    fn assert_plain(reply: &Reply, status: StatusCode, body: &str) {
        assert_eq!((reply.status, reply.body.as_str()), (status, body));
        assert_eq!(header(reply, "content-type"), Some(TEXT_PLAIN));
    }

    #[test]
    fn welcome_and_health_need_no_settings_or_store() {
        let instance = Instance::new(FakeHost::with(&[]));
        assert_plain(&get(&instance, "/"), StatusCode::OK, WELCOME);
        let reply = call(&instance, Method::HEAD, "/healthz");
        assert_plain(&reply, StatusCode::OK, "ok");
        assert_eq!(instance.host.variable_reads.get(), 0);
        assert_eq!(instance.host.opens.get(), 0);
    }

    #[test]
    fn count_increments_once_and_reports() {
        let instance = Instance::new(FakeHost::with(&[]));
        let reply = get(&instance, "/count?from=test");
        assert_plain(&reply, StatusCode::OK, "Visit count: 1");
        assert_eq!(*instance.host.applied.borrow(), [1]);
    }

    #[test]
    fn an_instance_reads_settings_and_opens_the_store_once() {
        for host in [FakeHost::with(&[]), FakeHost::kv()] {
            let reads_per_settings = if host.variables["counter_store"] == "kv" {
                2
            } else {
                8
            };
            let instance = Instance::new(host);
            for n in 1..=3 {
                let reply = get(&instance, "/count");
                assert_plain(&reply, StatusCode::OK, &format!("Visit count: {n}"));
            }
            assert_plain(&get(&instance, "/readyz"), StatusCode::OK, "ready");
            assert_eq!(instance.host.variable_reads.get(), reads_per_settings);
            assert_eq!(instance.host.opens.get(), 1);
            assert_eq!(*instance.host.applied.borrow(), [1, 1, 1]);
        }
    }

    #[test]
    fn head_count_is_405_and_does_not_increment() {
        let instance = Instance::new(FakeHost::with(&[]));
        let reply = call(&instance, Method::HEAD, "/count");
        assert_plain(&reply, StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
        assert_eq!(header(&reply, "allow"), Some("GET"));
        assert!(instance.host.applied.borrow().is_empty());
    }

    #[test]
    fn unknown_path_is_404() {
        let instance = Instance::new(FakeHost::with(&[]));
        assert_plain(
            &get(&instance, "/count/"),
            StatusCode::NOT_FOUND,
            "Not found",
        );
    }

    #[test]
    fn ready_reads_the_key() {
        let instance = Instance::new(FakeHost::with(&[]));
        assert_plain(&get(&instance, "/readyz"), StatusCode::OK, "ready");
        assert_eq!(get(&instance, "/count").body, "Visit count: 1");
        assert_plain(&get(&instance, "/readyz"), StatusCode::OK, "ready");
        assert_eq!(
            (instance.host.reads.get(), instance.host.pings.get()),
            (2, 0)
        );
    }

    #[test]
    fn ready_is_false_when_count_cannot_succeed() {
        let instance = Instance::new(FakeHost::with(&[]));
        assert_eq!(get(&instance, "/count").body, "Visit count: 1");
        *instance.host.stored.borrow_mut() = Some("hello".into());
        assert_plain(
            &get(&instance, "/readyz"),
            StatusCode::INTERNAL_SERVER_ERROR,
            "key 'visits' does not hold an integer; fix or delete it in Redis",
        );

        let instance = Instance::new(FakeHost::with(&[]).failing_calls(crate::spin_says::MOVED, 1));
        let reply = get(&instance, "/readyz");
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            reply
                .body
                .contains("is a Redis Cluster node that does not serve key 'visits'"),
            "{}",
            reply.body
        );
    }

    #[test]
    fn unreachable_store_is_503_with_retry_after() {
        for path in ["/count", "/readyz"] {
            let instance = Instance::new(FakeHost::with(&[]).failing_opens(REFUSED, 1));
            let reply = get(&instance, path);
            assert_plain(
                &reply,
                StatusCode::SERVICE_UNAVAILABLE,
                "Redis at 127.0.0.1:6379 is unavailable: Connection refused (os error 111)",
            );
            assert_eq!(header(&reply, "retry-after"), Some("1"));
        }
    }

    #[test]
    fn invalid_settings_are_500_never_reach_the_store_and_are_read_again() {
        let instance = Instance::new(FakeHost::with(&[("redis_port", "abc")]));
        for _ in 0..2 {
            let reply = get(&instance, "/count");
            assert_plain(
                &reply,
                StatusCode::INTERNAL_SERVER_ERROR,
                "invalid setting redis_port: \"abc\" is not a port number (1-65535)",
            );
            assert_eq!(header(&reply, "retry-after"), None);
        }
        assert_eq!(instance.host.opens.get(), 0);
        assert_eq!(instance.host.variable_reads.get(), 8, "4 reads, twice");
    }

    #[test]
    fn a_failed_incr_on_a_kept_connection_fails_once_and_the_next_request_reconnects() {
        let instance = Instance::new(FakeHost::with(&[]));
        assert_eq!(get(&instance, "/count").body, "Visit count: 1");
        instance.host.fail_next_call(RESET);

        let reply = get(&instance, "/count");
        assert_plain(
            &reply,
            StatusCode::SERVICE_UNAVAILABLE,
            "Redis at 127.0.0.1:6379 is unavailable: Connection reset by peer (os error 104)",
        );
        assert_eq!(
            instance.host.opens.get(),
            1,
            "not retried on a new connection"
        );

        assert_eq!(get(&instance, "/count").body, "Visit count: 2");
        assert_eq!(instance.host.opens.get(), 2);
        assert_eq!(*instance.host.applied.borrow(), [1, 2]);
    }

    #[test]
    fn concurrent_requests_count_exactly_and_end_up_sharing_one_connection() {
        for host in [FakeHost::with(&[]), FakeHost::kv()] {
            let instance = Instance::new(host);
            let requests = (0..16).map(|_| instance.respond(&Method::GET, "/count"));
            let mut counts: Vec<String> = join_all(&instance.host.tasks, requests.collect())
                .into_iter()
                .map(|reply| reply.body)
                .collect();
            counts.sort_by_key(|body| body.len());
            let expected: Vec<String> = (1..=16).map(|n| format!("Visit count: {n}")).collect();
            assert_eq!(counts, expected);

            let opened = instance.host.opens.get();
            let connection = instance.connection.get().map(|link| link.connection);
            let kept = connection.or(instance.bucket.get().as_deref().copied());
            assert_eq!(kept, Some(1), "the first one opened is kept");
            assert_eq!(get(&instance, "/count").body, "Visit count: 17");
            assert_eq!(
                instance.host.opens.get(),
                opened,
                "later requests open nothing"
            );
            assert_eq!(instance.host.applied.borrow().last(), Some(&1));
        }
    }

    #[test]
    fn a_failure_forgets_only_the_handle_it_happened_on() {
        let kept = Kept::default();
        let first = kept.keep(1);
        let failed_earlier = Rc::new(0);
        kept.forget(&failed_earlier);
        assert_eq!(kept.get(), Some(first.clone()));
        kept.forget(&first);
        assert_eq!(kept.get(), None);
    }

    #[test]
    fn a_busy_store_is_retried_and_counts_once() {
        let instance = Instance::new(
            FakeHost::kv()
                .failing_opens(LOCKED, 1)
                .failing_calls(LOCKED, 2),
        );
        let reply = get(&instance, "/count");
        assert_plain(&reply, StatusCode::OK, "Visit count: 1");
        assert_eq!(
            *instance.host.applied.borrow(),
            [3],
            "on the third bucket opened"
        );
        let ms = Duration::from_millis;
        assert_eq!(*instance.host.pauses.borrow(), [ms(10), ms(20), ms(40)]);
    }

    #[test]
    fn a_store_that_stays_busy_is_503_busy() {
        let instance = Instance::new(FakeHost::kv().failing_calls(LOCKED, 5));
        let reply = get(&instance, "/count");
        assert_plain(
            &reply,
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("key-value store 'default' is busy: {LOCKED}"),
        );
        assert_eq!(header(&reply, "retry-after"), Some("1"));
        assert!(instance.host.applied.borrow().is_empty());
        assert_eq!(
            get(&instance, "/count").body,
            "Visit count: 1",
            "and it recovers"
        );
    }

    #[test]
    fn a_value_that_is_not_an_integer_is_500_and_left_alone() {
        let instance = Instance::new(FakeHost::with(&[]).failing_calls(NOT_AN_INTEGER, 1));
        assert_plain(
            &get(&instance, "/count"),
            StatusCode::INTERNAL_SERVER_ERROR,
            "key 'visits' does not hold an integer; fix or delete it in Redis",
        );
        assert!(instance.host.applied.borrow().is_empty());
    }

    #[track_caller]
    fn assert_timed_out(reply: &Reply) {
        assert_plain(reply, StatusCode::SERVICE_UNAVAILABLE, TIMED_OUT);
        assert_eq!(header(reply, "retry-after"), Some("1"));
    }

    #[test]
    fn a_hung_open_is_503_within_the_timeout_and_the_next_request_opens_again() {
        let instance = Instance::new(FakeHost::with(&[]).hang_on(Call::Open));
        assert_timed_out(&get(&instance, "/count"));
        assert_eq!(*instance.host.limits.borrow(), [Duration::from_secs(2)]);
        assert_eq!(instance.host.opens.get(), 0, "the hung open never finished");
        assert!(instance.connection.get().is_none());

        assert_eq!(get(&instance, "/count").body, "Visit count: 1");
        assert_eq!(instance.host.opens.get(), 1);
    }

    #[test]
    fn a_hung_incr_drops_the_connection_and_its_late_answer_is_never_used() {
        let instance = Instance::new(FakeHost::with(&[]));
        assert_eq!(get(&instance, "/count").body, "Visit count: 1");
        instance.host.hangs.borrow_mut().push_back(Call::Incr);

        assert_timed_out(&get(&instance, "/count"));
        assert_eq!(
            *instance.host.applied.borrow(),
            [1],
            "the hung INCR's answer was not waited for, nor sent again"
        );
        assert!(instance.connection.get().is_none(), "its state is unknown");

        assert_eq!(get(&instance, "/count").body, "Visit count: 2");
        assert_eq!(
            *instance.host.applied.borrow(),
            [1, 2],
            "on a new connection"
        );
    }

    #[test]
    fn a_hung_read_makes_readyz_503_within_the_timeout() {
        let instance = Instance::new(FakeHost::with(&[]).hang_on(Call::Get));
        assert_timed_out(&get(&instance, "/readyz"));
        assert!(instance.connection.get().is_none());
        assert_plain(&get(&instance, "/readyz"), StatusCode::OK, "ready");
    }

    #[test]
    fn each_call_races_the_time_its_request_has_left() {
        let instance = Instance::new(FakeHost::with(&[("redis_timeout", "500ms")]));
        assert_eq!(get(&instance, "/count").body, "Visit count: 1");
        instance.host.advance(CHECK_IDLE_AFTER);
        instance.host.hangs.borrow_mut().push_back(Call::Incr);
        assert_plain(
            &get(&instance, "/count"),
            StatusCode::SERVICE_UNAVAILABLE,
            "Redis at 127.0.0.1:6379 did not answer within 500 ms",
        );
        let ms = Duration::from_millis;
        assert_eq!(
            *instance.host.limits.borrow(),
            [ms(500), ms(490), ms(500), ms(490)],
            "open and INCR, then the idle check's PING and the INCR, 10 ms each"
        );
        assert_eq!(instance.host.pings.get(), 1);
    }

    #[test]
    fn a_connection_in_use_is_not_checked() {
        let instance = Instance::new(FakeHost::with(&[]));
        for n in 1..=5 {
            assert_eq!(get(&instance, "/count").body, format!("Visit count: {n}"));
            instance
                .host
                .advance(CHECK_IDLE_AFTER - Duration::from_millis(1));
        }
        assert_eq!(
            instance.host.pings.get(),
            0,
            "no round trip added under load"
        );
        assert_eq!(instance.host.opens.get(), 1);
    }

    #[test]
    fn an_idle_connection_broken_by_a_redis_restart_is_replaced_before_the_incr() {
        let instance = Instance::new(FakeHost::with(&[]));
        assert_eq!(get(&instance, "/count").body, "Visit count: 1");
        instance.host.advance(CHECK_IDLE_AFTER);
        instance
            .host
            .ping_failures
            .borrow_mut()
            .push_back(BROKEN_PIPE.into());

        assert_plain(&get(&instance, "/count"), StatusCode::OK, "Visit count: 2");
        assert_eq!(instance.host.pings.get(), 1);
        assert_eq!(
            *instance.host.applied.borrow(),
            [1, 2],
            "on a new connection"
        );

        instance.host.advance(CHECK_IDLE_AFTER);
        assert_eq!(get(&instance, "/count").body, "Visit count: 3");
        assert_eq!(instance.host.pings.get(), 2, "idle again: checked again");
        assert_eq!(
            *instance.host.applied.borrow(),
            [1, 2, 2],
            "and it answered"
        );
    }

    #[test]
    fn an_idle_connection_that_cannot_be_replaced_fails_with_the_open() {
        let instance = Instance::new(FakeHost::with(&[]));
        assert_eq!(get(&instance, "/count").body, "Visit count: 1");
        instance.host.advance(CHECK_IDLE_AFTER);
        (instance.host.ping_failures.borrow_mut()).push_back(BROKEN_PIPE.into());
        (instance.host.open_failures.borrow_mut()).push_back(REFUSED.into());
        assert_plain(
            &get(&instance, "/count"),
            StatusCode::SERVICE_UNAVAILABLE,
            "Redis at 127.0.0.1:6379 is unavailable: Connection refused (os error 111)",
        );
        assert_eq!(*instance.host.applied.borrow(), [1]);
    }

    #[test]
    fn a_hung_idle_check_is_503_and_sends_no_incr() {
        let instance = Instance::new(FakeHost::with(&[]));
        assert_eq!(get(&instance, "/count").body, "Visit count: 1");
        instance.host.advance(CHECK_IDLE_AFTER);
        instance.host.hangs.borrow_mut().push_back(Call::Ping);
        assert_timed_out(&get(&instance, "/count"));
        assert_eq!(*instance.host.applied.borrow(), [1]);
        assert_eq!(
            instance.host.opens.get(),
            1,
            "no new connection within the same limit"
        );
    }

    #[test]
    fn concurrent_requests_on_a_hung_redis_all_time_out() {
        let instance = Instance::new(FakeHost::with(&[]));
        assert_eq!(get(&instance, "/count").body, "Visit count: 1");
        instance.host.hangs.borrow_mut().push_back(Call::Incr);
        let requests = (0..4).map(|_| instance.respond(&Method::GET, "/count"));
        for reply in join_all(&instance.host.tasks, requests.collect()) {
            assert_timed_out(&reply);
        }
        assert_eq!(*instance.host.applied.borrow(), [1]);
        assert_eq!(
            *instance.host.incr_bys.borrow(),
            [1, 4],
            "one INCRBY for the four, not sent again"
        );
        assert_eq!(get(&instance, "/count").body, "Visit count: 2");
    }

    /// A `GET /count` that starts after `yields` turns of the executor.
    async fn count_later(instance: &Rc<Instance<FakeHost>>, yields: u32) -> Reply {
        for _ in 0..yields {
            yield_now().await;
        }
        instance.respond(&Method::GET, "/count").await
    }

    fn bodies(replies: Vec<Reply>) -> Vec<String> {
        replies.into_iter().map(|reply| reply.body).collect()
    }

    fn counts(numbers: std::ops::RangeInclusive<i64>) -> Vec<String> {
        numbers.map(|n| format!("Visit count: {n}")).collect()
    }

    #[test]
    fn concurrent_requests_share_one_incrby_and_get_its_numbers_in_arrival_order() {
        let instance = Instance::new(FakeHost::with(&[]));
        instance.host.value.set(10);
        let requests = (0..16).map(|_| count_later(&instance, 0)).collect();
        let replies = join_all(&instance.host.tasks, requests);
        assert_eq!(bodies(replies), counts(11..=26));
        assert_eq!(*instance.host.incr_bys.borrow(), [16]);
        assert_eq!(instance.host.value.get(), 26);
    }

    #[test]
    fn a_lone_request_is_one_incrby_1_with_no_wait() {
        let instance = Instance::new(FakeHost::with(&[]));
        assert_eq!(get(&instance, "/count").body, "Visit count: 1");
        assert_eq!(*instance.host.incr_bys.borrow(), [1]);
        assert_eq!(
            instance.host.clock.elapsed.get(),
            2 * ROUND_TRIP,
            "the open and the INCRBY, nothing else"
        );
        assert!(instance.host.pauses.borrow().is_empty());
        assert_eq!(instance.host.tasks.running(), 0, "the sender stopped");
    }

    #[test]
    fn requests_arriving_during_a_batch_form_the_next_one() {
        let instance = Instance::new(FakeHost::with(&[]));
        let now = (0..4).map(|_| count_later(&instance, 0));
        let during_the_first = (0..3).map(|_| count_later(&instance, 1));
        let replies = join_all(&instance.host.tasks, now.chain(during_the_first).collect());
        assert_eq!(bodies(replies), counts(1..=7));
        assert_eq!(*instance.host.incr_bys.borrow(), [4, 3]);
        assert_eq!(instance.host.opens.get(), 1);
    }

    #[test]
    fn a_failing_batch_fails_all_of_its_requests_and_none_other() {
        let instance = Instance::new(FakeHost::with(&[]));
        assert_eq!(get(&instance, "/count").body, "Visit count: 1");
        instance.host.fail_next_call(RESET);
        let now = (0..3).map(|_| count_later(&instance, 0));
        let during_the_first = (0..2).map(|_| count_later(&instance, 1));
        let replies = join_all(&instance.host.tasks, now.chain(during_the_first).collect());
        let reset =
            "Redis at 127.0.0.1:6379 is unavailable: Connection reset by peer (os error 104)";
        for reply in &replies[..3] {
            assert_plain(reply, StatusCode::SERVICE_UNAVAILABLE, reset);
        }
        assert_eq!(bodies(replies)[3..], counts(2..=3));
        assert_eq!(*instance.host.incr_bys.borrow(), [1, 3, 2]);
        assert_eq!(
            *instance.host.applied.borrow(),
            [1, 2],
            "the next batch went out on a new connection"
        );
    }

    #[test]
    fn a_batch_whose_sender_is_dropped_mid_flight_still_answers_the_others() {
        use std::pin::Pin;
        use std::task::{Context, Waker};

        let instance = Instance::new(FakeHost::with(&[]));
        assert_eq!(get(&instance, "/count").body, "Visit count: 1");
        let mut requests: Vec<Pin<Box<_>>> = (0..3)
            .map(|_| Box::pin(count_later(&instance, 0)))
            .collect();
        let mut cx = Context::from_waker(Waker::noop());
        for request in &mut requests {
            assert!(request.as_mut().poll(&mut cx).is_pending());
        }
        instance.host.tasks.poll();
        assert_eq!(*instance.host.incr_bys.borrow(), [1, 3], "in flight");

        let sender = requests.remove(0);
        drop(sender);
        let replies = join_all(&instance.host.tasks, requests);
        assert_eq!(bodies(replies), counts(3..=4));
        assert_eq!(
            instance.host.value.get(),
            4,
            "the dropped request still counts: its batch was sent"
        );
    }
}
