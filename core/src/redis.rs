//! Counting on outbound Redis: the port an edition implements with its SDK's Redis calls, and
//! what an instance keeps for them.
//!
//! An instance keeps the connection it opened; a kept connection whose call fails or times out
//! is dropped, so the next request opens a new one, and the failing request itself is answered
//! with its failure and not retried, because an INCRBY whose answer was lost may still have been
//! applied. A kept connection that has been idle is checked with a `PING` (which changes nothing)
//! before an INCRBY goes out on it, so a Redis restarted while the instance was quiet costs no
//! visit; and no Redis call may take longer than `redis_timeout`. The `/count` requests served at
//! once count together, one `INCRBY` for all of them (`batch.rs`), sent by a task of the instance
//! so that no request's future carries another's.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::batch::{Batches, Seat};
use crate::classify::{redis_failure, redis_name, RedisError};
use crate::error::Failure;
use crate::instance::Runtime;
use crate::kept::Kept;
use crate::race;
use crate::settings::RedisTarget;

/// A kept Redis connection that has not answered for this long is checked with a `PING` before
/// it carries an INCRBY. Under load every connection answers far more often, so the check costs
/// nothing there; no Redis stops and starts again this fast (a local one restarts in well under
/// 100 ms), so a connection a restart broke is found out.
pub const CHECK_IDLE_AFTER: Duration = Duration::from_millis(10);

/// Spin's outbound Redis, as an edition's SDK offers it. Errors come back in the shape of Spin's
/// WIT.
#[allow(async_fn_in_trait)] // a component instance is single-threaded: nothing here needs Send
pub trait RedisPort {
    /// An open outbound Redis connection.
    type Connection;

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
}

/// What an instance keeps for Redis: its connection, and the `/count`s waiting for an INCRBY.
pub struct RedisStore<C> {
    connection: Kept<Link<C>>,
    batches: Batches,
}

impl<C> Default for RedisStore<C> {
    fn default() -> Self {
        RedisStore {
            connection: Kept::default(),
            batches: Batches::default(),
        }
    }
}

/// A kept Redis connection, and when it last answered.
struct Link<C> {
    connection: C,
    answered: Cell<Instant>,
}

/// Where a call goes, for its error texts: the Redis and the key.
#[derive(Clone, Copy)]
struct Destination<'a> {
    target: &'a RedisTarget,
    key: &'a str,
}

impl<C> RedisStore<C> {
    /// Seats a `/count` arriving `now` in the next batch; `true` when no task sends batches
    /// yet, so the caller must start one ([`RedisStore::send_batches`]).
    pub fn join(&self, now: Instant) -> (Rc<Seat>, bool) {
        self.batches.join(now)
    }

    /// Sends the waiting `/count` requests to Redis, one `INCRBY` for each batch of them, until
    /// none waits. Each batch has the time left to its oldest request; one whose outcome is
    /// unknown (a lost connection, a timeout) fails all of its requests and is never sent again.
    pub async fn send_batches<H>(&self, host: &H, target: &RedisTarget, key: &str)
    where
        H: RedisPort<Connection = C> + Runtime,
    {
        let to = Destination { target, key };
        while let Some(batch) = self.batches.next() {
            let (by, arrived) = (batch.size(), batch.arrived());
            let incr_by = async |c: &C| host.redis_incr_by(c, key, by).await;
            batch.settle(self.on_redis(host, to, arrived, incr_by).await);
        }
    }

    /// Whether a `/count` could succeed now. Reading the key, not only a PING: what stops an
    /// INCRBY (a Redis Cluster node that does not own the key, a value that is not an integer)
    /// stops readiness too.
    pub async fn ready<H>(&self, host: &H, target: &RedisTarget, key: &str) -> Result<(), Failure>
    where
        H: RedisPort<Connection = C> + Runtime,
    {
        let read = async |c: &C| host.redis_get(c, key).await;
        let to = Destination { target, key };
        match self.on_redis(host, to, host.now(), read).await? {
            Some(value) if std::str::from_utf8(&value).is_ok_and(|v| v.parse::<i64>().is_ok()) => {
                Ok(())
            }
            Some(_) => Err(Failure::NotAnInteger { key: key.into() }),
            None => Ok(()),
        }
    }

    /// One call on the kept connection (opened first when none is kept, checked first when it
    /// has been idle), all of it within the target's timeout from `start`. A connection whose
    /// call failed or timed out is dropped: its state is unknown, and the call is not sent
    /// again.
    async fn on_redis<H, T>(
        &self,
        host: &H,
        to: Destination<'_>,
        start: Instant,
        call: impl AsyncFnOnce(&C) -> Result<T, RedisError>,
    ) -> Result<T, Failure>
    where
        H: RedisPort<Connection = C> + Runtime,
    {
        let deadline = start + to.target.timeout;
        let link = self.link(host, to, start, deadline).await?;
        let outcome = before(host, deadline, to, call(&link.connection)).await;
        match outcome {
            Ok(_) => link.answered.set(host.now()),
            Err(_) => self.connection.forget(&link),
        }
        outcome
    }

    /// The connection to send a call on: the kept one if it answered lately or answers a
    /// `PING` now, else a new one. Only a timeout is final here: a failed `PING` changed
    /// nothing, so a new connection is opened in its place.
    async fn link<H>(
        &self,
        host: &H,
        to: Destination<'_>,
        start: Instant,
        deadline: Instant,
    ) -> Result<Rc<Link<C>>, Failure>
    where
        H: RedisPort<Connection = C> + Runtime,
    {
        if let Some(link) = self.connection.get() {
            if start.saturating_duration_since(link.answered.get()) < CHECK_IDLE_AFTER {
                return Ok(link);
            }
            match before(host, deadline, to, host.redis_ping(&link.connection)).await {
                Ok(pong) if pong == "PONG" => {
                    link.answered.set(host.now());
                    return Ok(link);
                }
                Err(timed_out @ Failure::TimedOut { .. }) => {
                    self.connection.forget(&link);
                    return Err(timed_out);
                }
                _ => self.connection.forget(&link),
            }
        }
        let url = to.target.url();
        let connection = before(host, deadline, to, host.redis_open(&url)).await?;
        Ok(self.connection.keep(Link {
            connection,
            answered: Cell::new(host.now()),
        }))
    }
}

#[cfg(test)]
impl<C: Copy> RedisStore<C> {
    /// The connection kept for the next request, if any.
    pub fn kept(&self) -> Option<C> {
        self.connection.get().map(|link| link.connection)
    }
}

/// `call`'s outcome as a failure the user can act on, or [`Failure::TimedOut`] if it has not
/// come by `deadline`.
async fn before<T>(
    host: &impl Runtime,
    deadline: Instant,
    to: Destination<'_>,
    call: impl Future<Output = Result<T, RedisError>>,
) -> Result<T, Failure> {
    let call = async {
        call.await
            .map_err(|error| redis_failure(to.target, error, to.key))
    };
    let timer = async {
        let left = deadline.saturating_duration_since(host.now());
        host.time_limit(left).await;
        Err(Failure::TimedOut {
            store: redis_name(to.target),
            after: to.target.timeout,
        })
    };
    race::first(call, timer).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_host::*;
    use crate::instance::Instance;
    use crate::spin_says::{BROKEN_PIPE, NOT_AN_INTEGER, REFUSED, RESET};
    use crate::test_support::join_all;
    use http::{Method, StatusCode};

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
    fn a_value_that_is_not_an_integer_is_500_and_left_alone() {
        let instance = Instance::new(FakeHost::with(&[]).failing_calls(NOT_AN_INTEGER, 1));
        assert_plain(
            &get(&instance, "/count"),
            StatusCode::INTERNAL_SERVER_ERROR,
            "key 'visits' does not hold an integer; fix or delete it in Redis",
        );
        assert!(instance.host.applied.borrow().is_empty());
    }

    #[test]
    fn a_hung_open_is_503_within_the_timeout_and_the_next_request_opens_again() {
        let instance = Instance::new(FakeHost::with(&[]).hang_on(Call::Open));
        assert_timed_out(&get(&instance, "/count"));
        assert_eq!(*instance.host.limits.borrow(), [Duration::from_secs(2)]);
        assert_eq!(instance.host.opens.get(), 0, "the hung open never finished");
        assert!(instance.redis.connection.get().is_none());

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
        assert!(
            instance.redis.connection.get().is_none(),
            "its state is unknown"
        );

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
        assert!(instance.redis.connection.get().is_none());
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
