//! What the unit tests share: driving the shared logic's futures natively, where no Spin
//! executor runs, and spin.toml's variables at their defaults.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

/// Runs a future that waits on nothing outside the test to completion.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// Runs futures concurrently, polling each in turn as one async task per request would be,
/// with the tasks they spawn polled after each round, and returns their outputs in order.
pub fn join_all<F: Future>(tasks: &Tasks, futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut cx = Context::from_waker(Waker::noop());
    while outputs.iter().any(Option::is_none) {
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                if let Poll::Ready(done) = future.as_mut().poll(&mut cx) {
                    *output = Some(done);
                }
            }
        }
        tasks.poll();
    }
    outputs.into_iter().flatten().collect()
}

/// The tasks a fake host was asked to spawn, polled as the executor of an instance would.
#[derive(Default)]
pub struct Tasks(RefCell<Vec<Pin<Box<dyn Future<Output = ()>>>>>);

impl Tasks {
    pub fn spawn(&self, task: impl Future<Output = ()> + 'static) {
        self.0.borrow_mut().push(Box::pin(task));
    }

    /// Polls each task once, in the order they were spawned, and forgets the finished ones.
    pub fn poll(&self) {
        let mut cx = Context::from_waker(Waker::noop());
        let mut tasks = self.0.take();
        tasks.retain_mut(|task| task.as_mut().poll(&mut cx).is_pending());
        let spawned_meanwhile = self.0.replace(tasks);
        self.0.borrow_mut().extend(spawned_meanwhile);
    }

    /// How many have not finished.
    pub fn running(&self) -> usize {
        self.0.borrow().len()
    }
}

/// A future that is pending once: lets a fake host call yield to the other requests.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|_| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            Poll::Pending
        }
    })
    .await
}

/// Every variable of spin.toml at its default.
pub fn default_variables() -> HashMap<&'static str, String> {
    [
        ("counter_store", "redis"),
        ("redis_host", "127.0.0.1"),
        ("redis_port", "6379"),
        ("redis_key", "visits"),
        ("redis_username", ""),
        ("redis_password", ""),
        ("redis_tls", "false"),
        ("redis_timeout", "2s"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

/// Text from outside, as hostile as a `String` can be: empty, NUL and control characters,
/// percent-encodings, non-ASCII, the characters URLs give a meaning to, and a few KB of it.
pub fn hostile_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        4 => any::<String>(),
        4 => "[\\x00-\\x1f\\x7f %@:/?#\\[\\]*a-zA-Z0-9é€😀\u{200b}\u{fffd}]{0,40}",
        2 => "(%[0-9A-Fa-f]{2}|%|%%|%[g-z]{2}|%0|%00){0,12}",
        1 => "[a-z%\\x00é]{2000,4000}",
    ]
}
