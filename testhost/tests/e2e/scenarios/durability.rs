//! Scenarios 5 and 6: the count survives graceful Redis and app restarts, and with
//! `appendfsync always` a `kill -9` of Redis under load loses no visit a client was told about.

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

pub fn crash_durability_kill_9_under_load(runtime: &Runtime) {
    const CLIENTS: usize = 16;
    const ACKED_BEFORE_KILL: u64 = 500;
    let mut redis = RedisServer::start_with(RedisOptions {
        fsync_always: true,
        ..RedisOptions::default()
    });
    let app = App::start(runtime, &AppOptions::on(&redis));

    let (report, ()) = load::during(&app.url("/count"), CLIENTS, ACKED_BEFORE_KILL, |_| {
        redis.kill9();
        // Keep the load on until the app itself reports Redis gone.
        wait_for(
            "/readyz to report Redis down",
            Duration::from_secs(10),
            || (app.get("/readyz").status == 503).then_some(()),
        )
        .unwrap();
    });
    redis.restart();

    let stored: u64 = redis
        .get("visits")
        .expect("the key survives kill -9 with appendfsync always")
        .parse()
        .expect("an integer");
    report.assert_nothing_lost_or_doubled(stored, &[200, 503]);
    assert!(
        report.ok() >= ACKED_BEFORE_KILL,
        "{} acknowledged",
        report.ok()
    );
    assert_eq!(app.count(), stored + 1, "counting goes on after the crash");
}
