//! Scenario 5: the count survives graceful Redis and app restarts (scenario 6, `kill -9` of Redis
//! under load, is in `outages`), and a variable changed between two starts takes effect.

use crate::support::app::{App, AppOptions};
use crate::support::redis_server::{RedisOptions, RedisServer};
use crate::support::runtime::{Edition, Target};

pub fn persistence_across_restarts(target: &Target) {
    let mut redis = RedisServer::start_with(RedisOptions {
        aof: true,
        ..RedisOptions::default()
    });
    let opts = AppOptions::on(&redis);
    let mut app = App::start(target, &opts);
    for n in 1..=10 {
        assert_eq!(app.count(), n);
    }

    redis.stop();
    redis.restart();
    // The Spin 4 edition's kept connection broke with the restart: the request that finds out
    // answers 503 (it is not retried, in case its INCR was applied) and counts nothing.
    let first = app.get("/count");
    if target.edition == Edition::Spin4 && first.status == 503 {
        first.assert_unavailable(&format!(
            "Redis at 127.0.0.1:{} is unavailable: ",
            redis.port
        ));
        assert_eq!(
            app.count(),
            11,
            "after a graceful Redis restart on the same AOF"
        );
    } else {
        assert_eq!(
            first.visit_count(),
            11,
            "after a graceful Redis restart on the same AOF"
        );
    }

    app.stop();
    let app = App::start(target, &opts);
    assert_eq!(app.count(), 12, "after an app restart");
    assert_eq!(redis.get("visits").as_deref(), Some("12"));
}

/// Issue 8: settings are kept per instance, and a new start reads the variables again.
pub fn variable_changed_between_two_starts(target: &Target) {
    let redis = RedisServer::start();
    let mut app = App::start(
        target,
        &AppOptions::on(&redis).var("redis_key", "e2e:first"),
    );
    for n in 1..=3 {
        assert_eq!(app.count(), n);
    }
    app.stop();

    let app = App::start(
        target,
        &AppOptions::on(&redis).var("redis_key", "e2e:second"),
    );
    assert_eq!(app.count(), 1, "the new key counts from 1");
    assert_eq!(app.count(), 2);

    assert_eq!(redis.get("e2e:first").as_deref(), Some("3"));
    assert_eq!(redis.get("e2e:second").as_deref(), Some("2"));
}
