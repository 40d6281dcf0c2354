//! Racing a store call against a timer: Spin's outbound Redis sets no timeout of its own, so a
//! Redis that accepts connections but never answers would hold a request forever.
//!
//! The loser is dropped, not awaited: a Redis call dropped this way is cancelled on the
//! component's side, and its late answer, if one ever comes, is never seen.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;

/// The output of whichever of `call` and `timer` finishes first; `call` is polled first, so a
/// call that is ready at once always wins.
pub async fn first<T>(call: impl Future<Output = T>, timer: impl Future<Output = T>) -> T {
    let mut call = pin!(call);
    let mut timer = pin!(timer);
    poll_fn(|cx| match call.as_mut().poll(cx) {
        Poll::Ready(output) => Poll::Ready(output),
        Poll::Pending => timer.as_mut().poll(cx),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{block_on, yield_now};
    use std::cell::Cell;

    async fn after(yields: u32, value: &'static str, done: &Cell<bool>) -> &'static str {
        for _ in 0..yields {
            yield_now().await;
        }
        done.set(true);
        value
    }

    #[test]
    fn the_first_to_finish_wins_and_the_other_never_completes() {
        let (call_done, timer_done) = (Cell::new(false), Cell::new(false));
        let quick = block_on(first(
            after(1, "call", &call_done),
            after(3, "timer", &timer_done),
        ));
        assert_eq!(
            (quick, call_done.get(), timer_done.get()),
            ("call", true, false)
        );

        let (call_done, timer_done) = (Cell::new(false), Cell::new(false));
        let slow = block_on(first(
            after(3, "call", &call_done),
            after(1, "timer", &timer_done),
        ));
        assert_eq!(
            (slow, call_done.get(), timer_done.get()),
            ("timer", false, true)
        );
    }

    #[test]
    fn a_call_ready_at_once_wins_over_a_timer_ready_at_once() {
        let (call_done, timer_done) = (Cell::new(false), Cell::new(false));
        let both = block_on(first(
            after(0, "call", &call_done),
            after(0, "timer", &timer_done),
        ));
        assert_eq!((both, timer_done.get()), ("call", false));
    }
}
