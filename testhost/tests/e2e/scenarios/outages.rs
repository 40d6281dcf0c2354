//! Redis restarted, or killed with `kill -9` and restarted, while clients count, with
//! `appendfsync always`. Both storage modes must recover without restarting the app, and no
//! visit acknowledged with a 200 may be lost or share its number with another.
//!
//! In redis mode a Spin 4 instance keeps its connection across requests: the outage breaks the
//! connections that instances hold, so this is where dropping a failed connection is tested.
//! The key-value store on Redis is Spin's own long-lived connection (issue 9).

use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::app::{App, AppOptions};
use crate::support::http;
use crate::support::load::{self, LoadReport};
use crate::support::redis_server::{RedisOptions, RedisServer};
use crate::support::runtime::Target;
use crate::support::wait_for;

/// How long Redis stays away, while the clients keep counting.
const OUTAGE: Duration = Duration::from_secs(1);
/// How soon after Redis is back `/count` must succeed again, with the same app: outbound Redis
/// opens a new connection at once; Spin's key-value store reconnects on its own schedule.
const REDIS_MODE_RECOVERY: Duration = Duration::from_secs(2);
const KV_RECOVERY: Duration = Duration::from_secs(5);

pub fn redis_restarted_under_load(target: &Target) {
    outage_under_load(
        target,
        AppOptions::on,
        RedisServer::stop,
        REDIS_MODE_RECOVERY,
    );
}

pub fn redis_killed_under_load(target: &Target) {
    outage_under_load(
        target,
        AppOptions::on,
        RedisServer::kill9,
        REDIS_MODE_RECOVERY,
    );
}

pub fn kv_redis_store_restarted_under_load(target: &Target) {
    outage_under_load(target, AppOptions::kv_on, RedisServer::stop, KV_RECOVERY);
}

pub fn kv_redis_store_killed_under_load(target: &Target) {
    outage_under_load(target, AppOptions::kv_on, RedisServer::kill9, KV_RECOVERY);
}

/// 32 clients count on an app made by `app_on`; Redis is taken down with `take_down` for
/// [`OUTAGE`] and started again on the same AOF; `/count` must succeed within `recovery`, and
/// the clients must count on.
fn outage_under_load(
    target: &Target,
    app_on: fn(&RedisServer) -> AppOptions,
    take_down: fn(&mut RedisServer),
    recovery: Duration,
) {
    const CLIENTS: usize = 32;
    let mut redis = RedisServer::start_with(RedisOptions {
        fsync_always: true,
        ..RedisOptions::default()
    });
    let app = App::start(target, &app_on(&redis));
    let url = app.url("/count");

    let (mut report, attempts) = load::during(&url, CLIENTS, 300, |acked| {
        take_down(&mut redis);
        thread::sleep(OUTAGE);
        redis.restart();
        let attempts = first_count_within(&url, recovery);
        let before = acked.load(Ordering::SeqCst);
        wait_for(
            "the clients to count again",
            Duration::from_secs(10),
            || (acked.load(Ordering::SeqCst) >= before + 100).then_some(()),
        )
        .unwrap();
        attempts
    });
    report.merge(attempts);

    let stored: u64 = redis
        .get("visits")
        .expect("the key survives with appendfsync always")
        .parse()
        .expect("an integer");
    report.assert_nothing_lost_or_doubled(stored, &[200, 503]);
    assert_eq!(app.count(), stored + 1, "counting goes on after the outage");
}

/// Sends `GET url` until a `200` comes, which must be within `recovery` of now; every attempt is
/// recorded, since each one could have counted.
fn first_count_within(url: &str, recovery: Duration) -> LoadReport {
    let back = Instant::now();
    let mut attempts = LoadReport::default();
    let mut last = String::from("no answer");
    while let Some(left) = recovery.checked_sub(back.elapsed()) {
        match attempts.send(&http::agent(left), url) {
            Some(200) => return attempts,
            status => last = format!("{status:?}"),
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("/count did not succeed within {recovery:?} of Redis being back; last: {last}");
}
