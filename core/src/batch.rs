//! Group commit: the `/count` requests an instance serves at once share one `INCRBY`.
//!
//! Spin charges per outbound Redis call, not per byte, so requests that arrive while an increment
//! is in flight wait for it and then go to Redis together as one `INCRBY key k`; with the answer
//! `v` they get `v-k+1 ..= v`, in arrival order. This file keeps the seats and hands out the
//! numbers; the instance sends each batch from a task of its own (see `instance.rs`).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

use crate::error::Failure;

/// The requests of one instance that wait for a count, and whether a sender is at work on them.
#[derive(Default)]
pub struct Batches {
    waiting: RefCell<Vec<Rc<Seat>>>,
    sending: Cell<bool>,
}

/// One request's place: when it arrived, and its outcome once its batch has one.
pub struct Seat {
    arrived: Instant,
    outcome: Cell<Option<Result<i64, Failure>>>,
    waker: Cell<Option<Waker>>,
}

/// Seats sent to Redis together, in arrival order.
pub struct Batch(Vec<Rc<Seat>>);

impl Batches {
    /// Seats a request that arrived at `now`. The second value is true when no sender is at
    /// work: the caller must start one, which then sends this seat's batch and every later one.
    pub fn join(&self, now: Instant) -> (Rc<Seat>, bool) {
        let seat = Rc::new(Seat {
            arrived: now,
            outcome: Cell::new(None),
            waker: Cell::new(None),
        });
        self.waiting.borrow_mut().push(Rc::clone(&seat));
        (seat, !self.sending.replace(true))
    }

    /// The next batch for the sender: every waiting seat whose request still waits (one that
    /// was dropped before it was sent is not counted). `None` stops the sender; the next
    /// request to arrive starts a new one.
    pub fn next(&self) -> Option<Batch> {
        let mut seats = self.waiting.take();
        seats.retain(|seat| Rc::strong_count(seat) > 1);
        if seats.is_empty() {
            self.sending.set(false);
            return None;
        }
        Some(Batch(seats))
    }
}

impl Batch {
    /// How many visits this batch adds.
    pub fn size(&self) -> i64 {
        self.0.len() as i64
    }

    /// When its first request arrived: the batch must be answered within that one's time.
    pub fn arrived(&self) -> Instant {
        self.0[0].arrived
    }

    /// Gives every seat its outcome: from the new value `v`, the numbers `v-k+1 ..= v` in
    /// arrival order; or the batch's failure, to each of them.
    pub fn settle(self, outcome: Result<i64, Failure>) {
        let size = self.size();
        for (n, seat) in (1..).zip(self.0) {
            seat.outcome.set(Some(match &outcome {
                Ok(last) => Ok(last - size + n),
                Err(failure) => Err(failure.clone()),
            }));
            if let Some(waker) = seat.waker.take() {
                waker.wake();
            }
        }
    }
}

impl Seat {
    /// Waits for this seat's outcome.
    pub async fn outcome(&self) -> Result<i64, Failure> {
        poll_fn(|cx| match self.outcome.take() {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::block_on;
    use std::time::Duration;

    fn failure() -> Failure {
        Failure::NotAnInteger {
            key: "visits".into(),
        }
    }

    #[test]
    fn the_first_to_join_starts_the_sender_and_the_rest_wait_for_it() {
        let batches = Batches::default();
        let now = Instant::now();
        let starts: Vec<bool> = (0..3).map(|_| batches.join(now).1).collect();
        assert_eq!(starts, [true, false, false]);
    }

    #[test]
    fn a_batch_numbers_its_seats_in_arrival_order() {
        let batches = Batches::default();
        let start = Instant::now();
        let seats: Vec<Rc<Seat>> = (0..3)
            .map(|i| batches.join(start + Duration::from_millis(i)).0)
            .collect();
        let batch = batches.next().expect("three seats wait");
        assert_eq!((batch.size(), batch.arrived()), (3, start));
        batch.settle(Ok(12));
        let numbers: Vec<_> = seats.iter().map(|s| block_on(s.outcome())).collect();
        assert_eq!(numbers, [Ok(10), Ok(11), Ok(12)]);
    }

    #[test]
    fn a_failed_batch_fails_each_of_its_seats() {
        let batches = Batches::default();
        let seats: Vec<Rc<Seat>> = (0..2).map(|_| batches.join(Instant::now()).0).collect();
        batches.next().unwrap().settle(Err(failure()));
        for seat in seats {
            assert_eq!(block_on(seat.outcome()), Err(failure()));
        }
    }

    #[test]
    fn seats_taken_during_a_batch_form_the_next_and_the_sender_stops_when_none_wait() {
        let batches = Batches::default();
        let first = batches.join(Instant::now()).0;
        let batch = batches.next().unwrap();
        let (later, start) = batches.join(Instant::now());
        assert!(!start, "the sender is still at work");
        batch.settle(Ok(1));
        assert_eq!(batches.next().map(|b| b.size()), Some(1));
        assert!(batches.next().is_none());
        assert!(
            batches.join(Instant::now()).1,
            "stopped: the next seat starts one"
        );
        drop((first, later));
    }

    #[test]
    fn a_request_gone_before_its_batch_was_sent_is_not_counted() {
        let batches = Batches::default();
        let gone = batches.join(Instant::now()).0;
        let stays = batches.join(Instant::now()).0;
        drop(gone);
        let batch = batches.next().unwrap();
        assert_eq!(batch.size(), 1);
        batch.settle(Ok(7));
        assert_eq!(block_on(stays.outcome()), Ok(7));
    }
}
