//! Retrying a store call that answered "busy": the one kind of failure that is known to have
//! changed nothing, so trying again cannot count a visit twice.
//!
//! Spin's built-in key-value store is SQLite: while the first opens of a fresh store race, or while
//! another process holds the file's lock, it answers busy, and its `increment` rolls its
//! transaction back when that happens. Every other failure is returned as it is: a dropped Redis
//! connection may have applied the INCR, so retrying that could count a visit twice.

use std::future::Future;
use std::time::Duration;

use crate::error::Failure;

/// How often to try, and how long to wait before each retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The wait before the first retry; it doubles before each further one.
    pub first_pause: Duration,
}

/// For the key-value store: 5 tries, waiting 10 + 20 + 40 + 80 = 150 ms in all, long enough for a
/// racing first open to finish and well under a second for the client.
pub const KV_BUSY: RetryPolicy = RetryPolicy {
    attempts: 5,
    first_pause: Duration::from_millis(10),
};

impl RetryPolicy {
    /// Calls `attempt` until it succeeds, fails with something other than [`Failure::Busy`], or
    /// has been tried `attempts` times; `pause` waits between tries. Returns the last outcome.
    pub async fn run<T, A, P>(
        &self,
        mut attempt: impl FnMut() -> A,
        mut pause: impl FnMut(Duration) -> P,
    ) -> Result<T, Failure>
    where
        A: Future<Output = Result<T, Failure>>,
        P: Future<Output = ()>,
    {
        let mut wait = self.first_pause;
        let mut tries = 1;
        loop {
            match attempt().await {
                Err(Failure::Busy { .. }) if tries < self.attempts => {
                    pause(wait).await;
                    wait *= 2;
                    tries += 1;
                }
                outcome => return outcome,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::block_on;
    use std::cell::{Cell, RefCell};

    fn busy() -> Failure {
        Failure::Busy {
            store: "key-value store 'default'".into(),
            cause: "database is locked".into(),
        }
    }

    /// A store that answers `first` for the first `times` increments, then applies them.
    struct FakeStore {
        first: Failure,
        times: Cell<u32>,
        asked: Cell<u32>,
        value: Cell<i64>,
    }

    impl FakeStore {
        fn answering(first: Failure, times: u32) -> Self {
            FakeStore {
                first,
                times: Cell::new(times),
                asked: Cell::new(0),
                value: Cell::new(41),
            }
        }

        async fn increment(&self) -> Result<i64, Failure> {
            self.asked.set(self.asked.get() + 1);
            if self.times.get() > 0 {
                self.times.set(self.times.get() - 1);
                return Err(self.first.clone());
            }
            self.value.set(self.value.get() + 1);
            Ok(self.value.get())
        }
    }

    /// Increments `store` under `policy`, recording every pause.
    fn run(policy: RetryPolicy, store: &FakeStore) -> (Result<i64, Failure>, Vec<Duration>) {
        let pauses = RefCell::new(Vec::new());
        let outcome = block_on(policy.run(
            || store.increment(),
            |wait| {
                pauses.borrow_mut().push(wait);
                async {}
            },
        ));
        (outcome, pauses.into_inner())
    }

    #[test]
    fn busy_answers_are_retried_with_doubling_pauses_and_count_once() {
        let store = FakeStore::answering(busy(), 3);
        let (outcome, pauses) = run(KV_BUSY, &store);
        assert_eq!(outcome, Ok(42));
        assert_eq!(store.asked.get(), 4);
        assert_eq!(store.value.get(), 42, "applied exactly once");
        let ms = Duration::from_millis;
        assert_eq!(pauses, [ms(10), ms(20), ms(40)]);
    }

    #[test]
    fn a_store_busy_for_good_gives_up_after_the_last_attempt() {
        let store = FakeStore::answering(busy(), 100);
        let (outcome, pauses) = run(KV_BUSY, &store);
        assert_eq!(outcome, Err(busy()));
        assert_eq!(store.asked.get(), 5);
        assert_eq!(store.value.get(), 41, "nothing applied");
        assert_eq!(pauses.len(), 4);
        assert_eq!(pauses.iter().sum::<Duration>(), Duration::from_millis(150));
    }

    #[test]
    fn other_failures_are_never_retried() {
        let dropped = Failure::Unavailable {
            store: "Redis at 127.0.0.1:6379".into(),
            cause: "Connection reset by peer (os error 104)".into(),
        };
        for failure in [
            dropped,
            Failure::NotAnInteger {
                key: "visits".into(),
            },
        ] {
            let store = FakeStore::answering(failure.clone(), 1);
            let (outcome, pauses) = run(KV_BUSY, &store);
            assert_eq!(outcome, Err(failure));
            assert_eq!((store.asked.get(), pauses.len()), (1, 0));
        }
    }

    #[test]
    fn success_at_once_never_pauses() {
        let store = FakeStore::answering(busy(), 0);
        let (outcome, pauses) = run(KV_BUSY, &store);
        assert_eq!((outcome, pauses.len()), (Ok(42), 0));
    }
}
