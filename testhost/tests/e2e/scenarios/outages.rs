//! Redis restarted, or killed with `kill -9` and restarted, while clients count, with
//! `appendfsync always`. Both storage modes must recover without restarting the app, and no
//! visit acknowledged with a 200 may be lost or share its number with another.
//!
//! In redis mode a WASIp3 instance keeps its connection across requests: the outage breaks the
//! connections that instances hold, so this is where dropping a failed connection is tested.
//! The key-value store on Redis is Spin's own long-lived connection.

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
/// What must hold once Redis is back.
#[derive(Clone, Copy)]
enum Back {
    /// Outbound Redis: every request sent after Redis answers again counts. Only requests in
    /// flight at the outage may fail; a connection an instance kept through it is checked
    /// before it carries an INCR (it has been idle at least as long as Redis was away).
    EveryRequestCounts,
    /// Spin's key-value store reconnects on its own schedule: `/count` succeeds within this.
    CountsWithin(Duration),
}

pub fn redis_restarted_under_load(target: &Target) {
    outage_under_load(
        target,
        AppOptions::on,
        RedisServer::stop,
        Back::EveryRequestCounts,
    );
}

pub fn redis_killed_under_load(target: &Target) {
    outage_under_load(
        target,
        AppOptions::on,
        RedisServer::kill9,
        Back::EveryRequestCounts,
    );
}

pub fn kv_redis_store_restarted_under_load(target: &Target) {
    let back = Back::CountsWithin(Duration::from_secs(5));
    outage_under_load(target, AppOptions::kv_on, RedisServer::stop, back);
}

pub fn kv_redis_store_killed_under_load(target: &Target) {
    let back = Back::CountsWithin(Duration::from_secs(5));
    outage_under_load(target, AppOptions::kv_on, RedisServer::kill9, back);
}

/// 32 clients count on an app made by `app_on`; Redis is taken down with `take_down` for
/// [`OUTAGE`] and started again on the same AOF; then what `back` says must hold, and the
/// clients must count on.
fn outage_under_load(
    target: &Target,
    app_on: fn(&RedisServer) -> AppOptions,
    take_down: fn(&mut RedisServer),
    back: Back,
) {
    const CLIENTS: usize = 32;
    let mut redis = RedisServer::start_with(RedisOptions {
        fsync_always: true,
        ..RedisOptions::default()
    });
    let app = App::start(target, &app_on(&redis));
    let url = app.url("/count");

    let (mut report, (restarted, attempts)) = load::during(&url, CLIENTS, 300, |acked| {
        take_down(&mut redis);
        thread::sleep(OUTAGE);
        redis.restart();
        let restarted = Instant::now();
        let recovery = match back {
            Back::EveryRequestCounts => Duration::from_secs(2),
            Back::CountsWithin(recovery) => recovery,
        };
        let attempts = first_count_within(&url, recovery);
        let before = acked.load(Ordering::SeqCst);
        wait_for(
            "the clients to count again",
            Duration::from_secs(10),
            || (acked.load(Ordering::SeqCst) >= before + 100).then_some(()),
        )
        .unwrap();
        (restarted, attempts)
    });
    report.merge(attempts);
    if let Back::EveryRequestCounts = back {
        let failed: Vec<_> = (report.timeline.iter())
            .filter(|sent| sent.at >= restarted && sent.status != Some(200))
            .collect();
        assert!(
            failed.is_empty(),
            "{} requests sent after Redis was back did not count, first: {:?}",
            failed.len(),
            failed[0]
        );
    }

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
        if attempts.send(&http::agent(left), url) == Some(200) {
            return attempts;
        }
        last = format!("{:?}", attempts.timeline.last());
        thread::sleep(Duration::from_millis(20));
    }
    panic!("/count did not succeed within {recovery:?} of Redis being back; last: {last}");
}
