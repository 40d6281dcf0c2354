//! Scenarios 5 and 6: the count survives graceful Redis and app restarts, and with
//! `appendfsync always` a `kill -9` of Redis under load loses no visit a client was told about.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use crate::support::app::{App, AppOptions};
use crate::support::load;
use crate::support::redis_server::{RedisOptions, RedisServer};
use crate::support::runtime::Runtime;
use crate::support::wait_for;

pub fn persistence_across_restarts(runtime: &Runtime) {
    let mut redis = RedisServer::start_with(RedisOptions {
        aof: true,
        ..RedisOptions::default()
    });
    let opts = AppOptions::on(&redis);
    let mut app = App::start(runtime, &opts);
    for n in 1..=10 {
        assert_eq!(app.count(), n);
    }

    redis.stop();
    redis.restart();
    assert_eq!(
        app.count(),
        11,
        "after a graceful Redis restart on the same AOF"
    );

    app.stop();
    let app = App::start(runtime, &opts);
    assert_eq!(app.count(), 12, "after an app restart");
    assert_eq!(redis.get("visits").as_deref(), Some("12"));
}

/// Sets the flag when dropped, so load threads stop even when the scenario panics.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

pub fn crash_durability_kill_9_under_load(runtime: &Runtime) {
    const CLIENTS: usize = 16;
    const ACKED_BEFORE_KILL: u64 = 500;
    let mut redis = RedisServer::start_with(RedisOptions {
        fsync_always: true,
        ..RedisOptions::default()
    });
    let app = App::start(runtime, &AppOptions::on(&redis));
    let url = app.url("/count");
    let stop = AtomicBool::new(false);
    let acked = AtomicU64::new(0);

    let report = thread::scope(|scope| {
        let clients = scope.spawn(|| load::until_stopped(&url, CLIENTS, &stop, &acked));
        let stop_guard = StopOnDrop(&stop);
        wait_for(
            &format!("{ACKED_BEFORE_KILL} acknowledged visits"),
            Duration::from_secs(60),
            || (acked.load(Ordering::SeqCst) >= ACKED_BEFORE_KILL).then_some(()),
        )
        .unwrap();
        redis.kill9();
        // Keep the load on until the app itself reports Redis gone.
        wait_for(
            "/readyz to report Redis down",
            Duration::from_secs(10),
            || (app.get("/readyz").status == 503).then_some(()),
        )
        .unwrap();
        drop(stop_guard);
        clients.join().unwrap()
    });
    redis.restart();

    let stored: u64 = redis
        .get("visits")
        .expect("the key survives kill -9 with appendfsync always")
        .parse()
        .expect("an integer");
    assert!(
        report.errors.is_empty(),
        "transport errors: {:?}",
        report.errors
    );
    assert!(
        report.bad_bodies.is_empty(),
        "bad bodies: {:?}",
        report.bad_bodies
    );
    let unexpected: BTreeMap<_, _> = report
        .statuses
        .iter()
        .filter(|(status, _)| **status != 200 && **status != 503)
        .collect();
    assert!(
        unexpected.is_empty(),
        "only 200 and 503 expected: {:?}",
        report.statuses
    );
    let ok = report.ok();
    assert!(ok >= ACKED_BEFORE_KILL, "{ok} acknowledged visits");
    let distinct: BTreeSet<_> = report.counts.iter().collect();
    assert_eq!(
        distinct.len() as u64,
        ok,
        "every acknowledged visit got its own number"
    );
    let highest = report.counts.iter().max().copied().unwrap_or(0);
    assert!(
        stored >= ok && stored >= highest,
        "lost acknowledged visits: stored {stored}, {ok} acknowledged, highest number returned {highest}"
    );
    assert_eq!(app.count(), stored + 1, "counting goes on after the crash");
}
