//! Scenario 5: the count survives graceful Redis and app restarts (scenario 6, `kill -9` of Redis
//! under load, is in `outages`), and a variable changed between two starts takes effect.

use std::thread;
use std::time::Duration;

use crate::support::app::{App, AppOptions};
use crate::support::load;
use crate::support::redis_server::{RedisOptions, RedisServer};
use crate::support::runtime::Target;

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
    // Concurrent clients, so that several Spin 4 instances keep a connection each.
    let mut counts = load::hammer(&[app.url("/count")], 16, 10).counts;
    counts.sort_unstable();
    assert_eq!(counts, (11..=170).collect::<Vec<u64>>());

    redis.stop();
    redis.restart();
    // The connections those instances kept were broken by the restart: each is checked before
    // an INCR goes out on it (it has been idle since), and replaced, so no visit fails.
    for n in 171..=172 {
        assert_eq!(
            app.count(),
            n,
            "after a graceful Redis restart on the same AOF"
        );
        thread::sleep(Duration::from_millis(300));
    }

    app.stop();
    let app = App::start(target, &opts);
    assert_eq!(app.count(), 173, "after an app restart");
    assert_eq!(redis.get("visits").as_deref(), Some("173"));
}

/// Settings are kept per instance, and a new start reads the variables again.
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
