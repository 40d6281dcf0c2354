//! A scripted Spin for the unit tests: variables from a map, one integer as the store, queues of
//! failures its next calls answer with, calls that hang, a clock that moves only when told, the
//! tasks it was asked to spawn and the lines it was asked to log; and what the tests of every
//! module do with it.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};

use crate::classify::{KvError, RedisError};
use crate::instance::{Instance, Runtime};
use crate::kv::KvPort;
use crate::redis::RedisPort;
use crate::reply::{Reply, TEXT_PLAIN};
use crate::settings::Variables;
use crate::test_support::{default_variables, join_all, yield_now, Tasks};

/// A Redis connection or bucket the fake host opened: its number, counting from 1.
pub type Handle = u32;

/// The calls the fake host can be told to hang on (answer only long after any timer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Open,
    Incr,
    Ping,
    Get,
}

/// The fake host's monotonic clock: it moves only when a test or a timer moves it.
pub struct Clock {
    pub start: Instant,
    pub elapsed: Cell<Duration>,
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
pub struct FakeHost {
    pub variables: HashMap<&'static str, String>,
    pub variable_reads: Cell<u32>,
    pub value: Cell<i64>,
    pub opens: Cell<u32>,
    /// Every increment applied, with the handle it came through.
    pub applied: RefCell<Vec<Handle>>,
    /// What each `INCRBY` added.
    pub incr_bys: RefCell<Vec<i64>>,
    pub open_failures: RefCell<VecDeque<String>>,
    pub call_failures: RefCell<VecDeque<String>>,
    pub pauses: RefCell<Vec<Duration>>,
    pub pings: Cell<u32>,
    /// `GET`s of the key, and what the key holds when it is not the count.
    pub reads: Cell<u32>,
    pub stored: RefCell<Option<String>>,
    pub ping_failures: RefCell<VecDeque<String>>,
    /// The next calls of these kinds hang.
    pub hangs: RefCell<VecDeque<Call>>,
    /// Every time limit a call was raced against.
    pub limits: RefCell<Vec<Duration>>,
    pub clock: Clock,
    pub tasks: Tasks,
    /// Every line the instance logged.
    pub logged: RefCell<Vec<String>>,
}

impl FakeHost {
    pub fn with(overrides: &[(&'static str, &str)]) -> Self {
        let mut variables = default_variables();
        for (name, value) in overrides {
            variables.insert(name, value.to_string());
        }
        FakeHost {
            variables,
            ..FakeHost::default()
        }
    }

    pub fn kv() -> Self {
        FakeHost::with(&[("counter_store", "kv")])
    }

    /// The next `times` calls on an open handle fail with `message`.
    pub fn failing_calls(self, message: &str, times: usize) -> Self {
        self.call_failures
            .borrow_mut()
            .extend(std::iter::repeat_n(message.to_string(), times));
        self
    }

    pub fn failing_opens(self, message: &str, times: usize) -> Self {
        self.open_failures
            .borrow_mut()
            .extend(std::iter::repeat_n(message.to_string(), times));
        self
    }

    /// The next call on an open handle fails with `message`.
    pub fn fail_next_call(&self, message: &str) {
        self.call_failures.borrow_mut().push_back(message.into());
    }

    pub fn hang_on(self, call: Call) -> Self {
        self.hangs.borrow_mut().push_back(call);
        self
    }

    pub fn advance(&self, by: Duration) {
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

impl RedisPort for FakeHost {
    type Connection = Handle;

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
}

impl KvPort for FakeHost {
    type Bucket = Handle;

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
}

impl Runtime for FakeHost {
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

    fn log(&self, line: std::fmt::Arguments<'_>) {
        self.logged.borrow_mut().push(line.to_string());
    }
}

/// How long each call of the fake host takes.
pub const ROUND_TRIP: Duration = Duration::from_millis(10);
pub const TIMED_OUT: &str = "Redis at 127.0.0.1:6379 did not answer within 2 s";

pub fn call(instance: &Rc<Instance<FakeHost>>, method: Method, path: &str) -> Reply {
    let replies = join_all(&instance.host.tasks, vec![instance.respond(&method, path)]);
    replies.into_iter().next().expect("one reply")
}

pub fn get(instance: &Rc<Instance<FakeHost>>, path: &str) -> Reply {
    call(instance, Method::GET, path)
}

pub fn header<'r>(reply: &'r Reply, name: &str) -> Option<&'r str> {
    let mut values = reply.headers.iter().filter(|(n, _)| *n == name);
    let value = values.next().map(|&(_, value)| value);
    assert!(values.next().is_none(), "{name} is sent twice");
    value
}

#[track_caller]
pub fn assert_plain(reply: &Reply, status: StatusCode, body: &str) {
    assert_eq!((reply.status, reply.body.as_str()), (status, body));
    assert_eq!(header(reply, "content-type"), Some(TEXT_PLAIN));
}

/// The fields a reply is sent with carry one `content-length`, last, and it is the body's, in
/// bytes.
#[track_caller]
pub fn assert_exact_content_length(reply: &Reply) {
    let fields = reply.header_fields();
    let lengths: Vec<&[u8]> = (fields.iter())
        .filter(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.as_slice())
        .collect();
    assert_eq!(lengths, [reply.body.len().to_string().as_bytes()]);
    let last = fields.last().map(|(name, _)| name.as_str());
    assert_eq!(last, Some("content-length"));
}

#[track_caller]
pub fn assert_timed_out(reply: &Reply) {
    assert_plain(reply, StatusCode::SERVICE_UNAVAILABLE, TIMED_OUT);
    assert_eq!(header(reply, "retry-after"), Some("1"));
}

/// A `GET /count` that starts after `yields` turns of the executor.
pub async fn count_later(instance: &Rc<Instance<FakeHost>>, yields: u32) -> Reply {
    for _ in 0..yields {
        yield_now().await;
    }
    instance.respond(&Method::GET, "/count").await
}

pub fn bodies(replies: Vec<Reply>) -> Vec<String> {
    replies.into_iter().map(|reply| reply.body).collect()
}

pub fn counts(numbers: std::ops::RangeInclusive<i64>) -> Vec<String> {
    numbers.map(|n| format!("Visit count: {n}")).collect()
}
