//! Counting in Spin's key-value store (`wasi:keyvalue`): the port an edition implements with its
//! SDK's key-value calls, and the bucket an instance keeps. A call on it is retried while the
//! store answers busy (which means it changed nothing); any other failure drops the bucket, so
//! the next request opens the store again.

use crate::classify::{kv_failure, KvError, KV_STORE};
use crate::error::Failure;
use crate::instance::Runtime;
use crate::kept::Kept;
use crate::retry;

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
        retry::KV_BUSY.run(attempt, |wait| host.pause(wait)).await
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
        assert_eq!(
            get(&instance, "/count").body,
            "Visit count: 1",
            "and it recovers"
        );
    }
}
