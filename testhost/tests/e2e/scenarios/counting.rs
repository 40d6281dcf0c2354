//! Scenarios 2-4: exact counts, sequentially, under 64 concurrent clients, and with three app
//! processes with 64 clients each sharing one Redis; and the `INCRBY` batches that count them.

use std::thread;

use crate::support::app::{App, AppOptions};
use crate::support::load;
use crate::support::redis_server::RedisServer;
use crate::support::runtime::{Edition, Target};

const CLIENTS: usize = 64;
const PER_CLIENT: usize = 200;
const TOTAL: u64 = (CLIENTS * PER_CLIENT) as u64;

pub fn sequential_counts(target: &Target) {
    let redis = RedisServer::start();
    let app = App::start(target, &AppOptions::on(&redis));

    for n in 1..=100 {
        app.get("/count")
            .assert_text(200, &format!("Visit count: {n}"));
    }

    assert_eq!(redis.get("visits").as_deref(), Some("100"));
}

pub fn custom_key_leaves_default_untouched(target: &Target) {
    let redis = RedisServer::start();
    redis.set("visits", "41");
    let custom = App::start(
        target,
        &AppOptions::on(&redis).var("redis_key", "e2e:custom"),
    );

    for n in 1..=5 {
        assert_eq!(custom.count(), n);
    }

    assert_eq!(redis.get("e2e:custom").as_deref(), Some("5"));
    assert_eq!(redis.get("visits").as_deref(), Some("41"));
    let default = App::start(target, &AppOptions::on(&redis));
    assert_eq!(default.count(), 42);
    assert_eq!(redis.get("e2e:custom").as_deref(), Some("5"));
}

pub fn concurrent_counts_are_exact(target: &Target) {
    let redis = RedisServer::start();
    let app = App::start(target, &AppOptions::on(&redis));

    let report = load::hammer(&[app.url("/count")], CLIENTS, PER_CLIENT);

    report.assert_exactly_one_to(TOTAL);
    assert_eq!(redis.get("visits"), Some(TOTAL.to_string()));
}

/// The WASIp3 edition's requests served at once count together, one `INCRBY` for a
/// batch of them, so Redis sees fewer calls than visits; the portable edition's instance serves
/// one request, so each visit is an `INCRBY` of its own. Counted by Redis (`INFO commandstats`).
pub fn concurrent_counts_share_incrby_calls(target: &Target) {
    const CONCURRENT: usize = 16;
    const EACH: usize = 200;
    const VISITS: u64 = (CONCURRENT * EACH) as u64;
    let redis = RedisServer::start();
    let app = App::start(target, &AppOptions::on(&redis));
    let _: () = redis.query(redis::cmd("CONFIG").arg("RESETSTAT"));

    let report = load::hammer(&[app.url("/count")], CONCURRENT, EACH);

    report.assert_exactly_one_to(VISITS);
    assert_eq!(redis.get("visits"), Some(VISITS.to_string()));
    let (incrby, incr) = (redis.calls("incrby"), redis.calls("incr"));
    println!(
        "{VISITS} visits, {incrby} INCRBY calls: {:.2} visits per call",
        VISITS as f64 / incrby as f64
    );
    assert_eq!(incr, 0, "every count is an INCRBY");
    match target.edition {
        Edition::Spin41 | Edition::Spin40 => assert!(
            (1..VISITS).contains(&incrby),
            "{incrby} INCRBY calls for {VISITS} visits: none shared"
        ),
        Edition::Portable => assert_eq!(incrby, VISITS, "one INCRBY per visit"),
    }
}

/// A WASIp3 build, on a Spin it is made for, serves many visits with one instance and keeps that
/// instance's Redis connection for all of them; the portable edition's instance serves one
/// request, so every visit opens a connection. Counted by Redis (`total_connections_received`).
/// The release-candidate build on a Spin 4.1 (an instance per request there) fails this.
pub fn instances_keep_their_redis_connection(target: &Target) {
    const CONCURRENT: usize = 16;
    const EACH: usize = 200;
    const VISITS: u64 = (CONCURRENT * EACH) as u64;
    let redis = RedisServer::start();
    let app = App::start(target, &AppOptions::on(&redis));
    let before = redis.connections_received();

    let report = load::hammer(&[app.url("/count")], CONCURRENT, EACH);

    report.assert_exactly_one_to(VISITS);
    // The second admin connection, asking, is the one more.
    let opened = redis.connections_received() - before - 1;
    println!(
        "{VISITS} visits, {opened} new Redis connections: {:.3} per visit",
        opened as f64 / VISITS as f64
    );
    if target.edition.is_wasip3() {
        assert!(
            (1..VISITS / 50).contains(&opened),
            "{opened} new connections for {VISITS} visits: instances not reused, or their \
             connections not kept"
        );
    } else {
        assert_eq!(opened, VISITS, "one connection per visit");
    }
}

/// Three apps with 64 clients each on one Redis (each app's instances share kept connections
/// among concurrent requests).
pub fn scale_out_three_apps_one_redis(target: &Target) {
    const APPS: usize = 3;
    const PER_APP_CLIENT: usize = 50;
    const ALL: u64 = (APPS * CLIENTS * PER_APP_CLIENT) as u64;
    let redis = RedisServer::start();
    let opts = AppOptions::on(&redis);
    let apps = start_many(target, &opts, APPS);
    let urls: Vec<String> = apps.iter().map(|app| app.url("/count")).collect();

    let report = load::hammer(&urls, APPS * CLIENTS, PER_APP_CLIENT);

    report.assert_exactly_one_to(ALL);
    assert_eq!(redis.get("visits"), Some(ALL.to_string()));
    for app in &apps {
        app.get("/readyz").assert_text(200, "ready");
    }
}

/// Starts `n` identical apps at once (each start compiles the component).
pub fn start_many(target: &Target, opts: &AppOptions, n: usize) -> Vec<App> {
    thread::scope(|scope| {
        let starting: Vec<_> = (0..n)
            .map(|_| scope.spawn(|| App::start(target, opts)))
            .collect();
        starting
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e))
            })
            .collect()
    })
}
