//! Counting in Spin's key-value store (`wasi:keyvalue`): the port an edition implements with its
//! SDK's key-value calls, and the bucket an instance keeps. Any failure drops the bucket, so the
//! next request opens the store again.
//!
//! A call is retried while the store answers busy, the one failure known to have changed
//! nothing: Spin's built-in store is SQLite, which answers busy while the first opens of a fresh
//! store race or another process holds the file's lock, and rolls its `increment` back. Every
//! other failure is returned as it is, so a visit is never counted twice.

use std::time::Duration;

use crate::classify::{kv_failure, KvError, KV_STORE};
use crate::error::Failure;
use crate::instance::Runtime;
use crate::kept::Kept;

/// Tries in all while the store answers busy, the first included.
const BUSY_ATTEMPTS: u32 = 5;
/// The wait before the first retry, doubled before each further one: 10 + 20 + 40 + 80 = 150 ms
/// in all, long enough for a racing first open to finish and well under a second for the client.
const FIRST_PAUSE: Duration = Duration::from_millis(10);

/// Spin's key-value store, as an edition's SDK offers it. Errors come back in the shape of
/// `wasi:keyvalue`'s.
#[allow(async_fn_in_trait)] // a component instance is single-threaded: nothing here needs Send
pub trait KvPort {
    /// An open key-value store.
    type Bucket;

    async fn kv_open(&self, label: &str) -> Result<Self::Bucket, KvError>;
    /// Adds one to `key`, atomically, and returns the new value.
    async fn kv_increment(&self, bucket: &Self::Bucket, key: &str) -> Result<i64, KvError>;
    /// Reads `key` and forgets the value: a readiness check.
    async fn kv_read(&self, bucket: &Self::Bucket, key: &str) -> Result<(), KvError>;
}

/// What an instance keeps for the key-value store: its bucket.
pub struct KvStore<B> {
    bucket: Kept<B>,
}

impl<B> Default for KvStore<B> {
    fn default() -> Self {
        KvStore {
            bucket: Kept::default(),
        }
    }
}

impl<B> KvStore<B> {
    /// Adds one visit to `key`: the new count.
    pub async fn increment<H>(&self, host: &H, key: &str) -> Result<i64, Failure>
    where
        H: KvPort<Bucket = B> + Runtime,
    {
        self.call(host, key, async |b: &B| host.kv_increment(b, key).await)
            .await
    }

    /// Whether a `/count` could succeed now: the key can be read.
    pub async fn ready<H>(&self, host: &H, key: &str) -> Result<(), Failure>
    where
        H: KvPort<Bucket = B> + Runtime,
    {
        self.call(host, key, async |b: &B| host.kv_read(b, key).await)
            .await
    }

    /// One call on the kept bucket, retried while the store answers busy.
    async fn call<H, T>(
        &self,
        host: &H,
        key: &str,
        call: impl AsyncFn(&B) -> Result<T, KvError>,
    ) -> Result<T, Failure>
    where
        H: KvPort<Bucket = B> + Runtime,
    {
        let failure = |error| kv_failure(error, key);
        let attempt = async || {
            let open = async || host.kv_open(KV_STORE).await.map_err(failure);
            let call = async |b: &B| call(b).await.map_err(failure);
            self.bucket.call(open, call).await
        };
        let mut wait = FIRST_PAUSE;
        for _ in 1..BUSY_ATTEMPTS {
            match attempt().await {
                Err(Failure::Busy { .. }) => {
                    host.pause(wait).await;
                    wait *= 2;
                }
                outcome => return outcome,
            }
        }
        attempt().await
    }
}

#[cfg(test)]
impl<B: Copy> KvStore<B> {
    /// The bucket kept for the next request, if any.
    pub fn kept(&self) -> Option<B> {
        self.bucket.get().as_deref().copied()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::fake_host::*;
    use crate::instance::Instance;
    use crate::spin_says::SQLITE_BUSY as LOCKED;
    use http::StatusCode;

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
        let ms = Duration::from_millis;
        assert_eq!(
            *instance.host.pauses.borrow(),
            [ms(10), ms(20), ms(40), ms(80)],
            "150 ms in all"
        );
        assert_eq!(
            get(&instance, "/count").body,
            "Visit count: 1",
            "and it recovers"
        );
    }

    #[test]
    fn a_store_busy_for_good_is_tried_five_times() {
        let instance = Instance::new(FakeHost::kv().failing_calls(LOCKED, 100));
        let reply = get(&instance, "/count");
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(instance.host.call_failures.borrow().len(), 95, "five tries");
        assert_eq!(instance.host.pauses.borrow().len(), 4);
        assert!(instance.host.applied.borrow().is_empty(), "nothing applied");
    }

    #[test]
    fn other_failures_are_never_retried() {
        let not_busy = "Connection reset by peer (os error 104)";
        let instance = Instance::new(FakeHost::kv().failing_calls(not_busy, 2));
        let reply = get(&instance, "/count");
        assert!(reply.status.is_server_error(), "{}", reply.body);
        assert!(reply.body.contains(not_busy), "{}", reply.body);
        assert_eq!(instance.host.call_failures.borrow().len(), 1, "one try");
        assert!(instance.host.pauses.borrow().is_empty());
        assert!(instance.host.applied.borrow().is_empty());
    }

    #[test]
    fn a_store_that_answers_at_once_never_pauses() {
        let instance = Instance::new(FakeHost::kv());
        assert_plain(&get(&instance, "/count"), StatusCode::OK, "Visit count: 1");
        assert!(instance.host.pauses.borrow().is_empty());
        assert_eq!(*instance.host.applied.borrow(), [1]);
    }
}
