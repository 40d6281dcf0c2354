//! Issue 5: `counter_store=kv`. On the key-value store mapped to Redis the count lands in the very
//! key `redis` mode uses; on the built-in store (in the app's state dir) it counts exactly and
//! persists across restarts. In `kv` mode no `redis_*` connection variable is read.

use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::app::{App, AppOptions};
use crate::support::http::{self, Method, Reply};
use crate::support::load;
use crate::support::redis_server::{RedisOptions, RedisServer};
use crate::support::runtime::Runtime;
use crate::support::wait_for;

pub fn redis_store_shares_key_with_redis_mode(runtime: &Runtime) {
    let redis = RedisServer::start();
    let both = apps_in_both_modes(runtime, &redis);
    let [redis_mode, kv_mode] = &both;

    for n in 1..=20 {
        let app = if n % 2 == 1 { redis_mode } else { kv_mode };
        assert_eq!(app.count(), n, "visit {n} alternating redis and kv mode");
    }

    assert_eq!(redis.get("visits").as_deref(), Some("20"));
    kv_mode.get("/readyz").assert_text(200, "ready");
}

/// One app in `redis` mode and one in `kv` mode on the same Redis.
fn apps_in_both_modes(runtime: &Runtime, redis: &RedisServer) -> [App; 2] {
    let redis_mode = App::start(runtime, &AppOptions::on(redis));
    let kv_mode = App::start(runtime, &AppOptions::kv_on(redis));
    [redis_mode, kv_mode]
}

pub fn redis_store_concurrent_counts_are_exact(runtime: &Runtime) {
    let redis = RedisServer::start();
    let app = App::start(runtime, &AppOptions::kv_on(&redis));

    let report = load::hammer(&[app.url("/count")], 64, 200);

    report.assert_exactly_one_to(12_800);
    assert_eq!(redis.get("visits").as_deref(), Some("12800"));
}

/// With the store's Redis down, Spin 4.0.2 neither answers `/count` nor `/readyz` within 30 s
/// (its key-value Redis client keeps retrying), so the component cannot turn it into a 503. What
/// must hold: a readiness probe with a timeout never sees `ready`, and liveness stays up.
pub fn redis_store_down_is_not_ready(runtime: &Runtime) {
    let mut redis = RedisServer::start();
    let app = App::start(runtime, &AppOptions::kv_on(&redis));
    redis.kill9();

    let probe = http::agent(Duration::from_secs(2));
    match http::send(&probe, Method::Get, &app.url("/readyz")) {
        Err(ureq::Error::Timeout(_)) => {}
        Ok(reply) => reply.assert_unavailable("key-value store 'default' is unavailable: "),
        Err(e) => panic!("GET /readyz: {e}"),
    }
    app.get("/healthz").assert_text(200, "ok");
}

pub fn builtin_store_counts_and_persists(runtime: &Runtime) {
    let state = tempfile::Builder::new()
        .prefix("e2e-state-")
        .tempdir()
        .expect("a state dir");
    let opts = AppOptions::kv_builtin(state.path());

    let mut app = App::start(runtime, &opts);
    for n in 1..=50 {
        app.get("/count")
            .assert_text(200, &format!("Visit count: {n}"));
    }
    app.get("/readyz").assert_text(200, "ready");
    app.stop();

    let app = App::start(runtime, &opts);
    assert_eq!(
        app.count(),
        51,
        "the built-in store persists in the state dir"
    );

    // A fresh state dir is a fresh store.
    let other = App::start(runtime, &AppOptions::new().var("counter_store", "kv"));
    assert_eq!(other.count(), 1);
}

/// Issue 9: 64 clients x 50 visits right after start, on a fresh built-in store. Spin's first
/// opens of a fresh SQLite file race and one can answer busy; the component retries that, so every
/// visit counts exactly once. The race is only in the first opens, so four more fresh starts take
/// one burst of 64 first visits each.
pub fn builtin_store_concurrent_counts_are_exact(runtime: &Runtime) {
    const CLIENTS: usize = 64;
    const PER_CLIENT: usize = 50;
    const MORE_FRESH_STARTS: usize = 4;
    let state = tempfile::Builder::new()
        .prefix("e2e-state-")
        .tempdir()
        .expect("a state dir");
    let app = App::start(runtime, &AppOptions::kv_builtin(state.path()));

    let report = load::hammer(&[app.url("/count")], CLIENTS, PER_CLIENT);

    report.assert_exactly_one_to((CLIENTS * PER_CLIENT) as u64);
    assert_eq!(app.count(), (CLIENTS * PER_CLIENT) as u64 + 1);
    for _ in 0..MORE_FRESH_STARTS {
        let fresh = App::start(runtime, &AppOptions::new().var("counter_store", "kv"));
        load::hammer(&[fresh.url("/count")], CLIENTS, 1).assert_exactly_one_to(CLIENTS as u64);
    }
}

/// Issue 9: two apps (two processes) on one state dir share the SQLite file, so either can find
/// it locked at any time. A visit is counted once or answered 503 busy, never counted twice.
pub fn builtin_store_shared_by_two_apps(runtime: &Runtime) {
    let state = tempfile::Builder::new()
        .prefix("e2e-state-")
        .tempdir()
        .expect("a state dir");
    let opts = AppOptions::kv_builtin(state.path());
    let apps = [App::start(runtime, &opts), App::start(runtime, &opts)];
    let urls: Vec<String> = apps.iter().map(|app| app.url("/count")).collect();

    let report = load::hammer(&urls, 32, 50);

    let stored = apps[0].count() - 1;
    report.assert_nothing_lost_or_doubled(stored, &[200, 503]);
    assert_eq!(
        stored,
        report.ok(),
        "a visit answered 503 busy was not counted"
    );
}

/// Issue 9: the key-value store on Redis (`appendfsync always`) restarted while 32 clients count.
pub fn redis_store_restarted_under_load(runtime: &Runtime) {
    redis_store_outage_under_load(runtime, RedisServer::stop);
}

/// Issue 9: the key-value store's Redis killed with `kill -9` while 32 clients count.
pub fn redis_store_killed_under_load(runtime: &Runtime) {
    redis_store_outage_under_load(runtime, RedisServer::kill9);
}

/// How long Redis stays away in the outage scenarios, while the clients keep counting.
const OUTAGE: Duration = Duration::from_secs(1);
/// How soon after Redis is back `/count` must succeed again, with the same app.
const RECOVERY: Duration = Duration::from_secs(5);

fn redis_store_outage_under_load(runtime: &Runtime, take_down: fn(&mut RedisServer)) {
    const CLIENTS: usize = 32;
    let mut redis = RedisServer::start_with(RedisOptions {
        fsync_always: true,
        ..RedisOptions::default()
    });
    let app = App::start(runtime, &AppOptions::kv_on(&redis));
    let url = app.url("/count");

    let (mut report, first_after) = load::during(&url, CLIENTS, 300, |acked| {
        take_down(&mut redis);
        thread::sleep(OUTAGE);
        redis.restart();
        let first_after = first_count_after_recovery(&url);
        let before = acked.load(Ordering::SeqCst);
        wait_for("the clients to count again", RECOVERY, || {
            (acked.load(Ordering::SeqCst) >= before + 100).then_some(())
        })
        .unwrap();
        first_after
    });
    report.record(Ok(first_after));

    let stored: u64 = redis
        .get("visits")
        .expect("the key survives with appendfsync always")
        .parse()
        .expect("an integer");
    report.assert_nothing_lost_or_doubled(stored, &[200, 503]);
    assert_eq!(app.count(), stored + 1, "counting goes on after the outage");
}

/// The first `200` reply to `GET url` once Redis is back, which must come within [`RECOVERY`].
fn first_count_after_recovery(url: &str) -> Reply {
    let back = Instant::now();
    let mut last = String::from("no answer");
    while let Some(left) = RECOVERY.checked_sub(back.elapsed()) {
        match http::send(&http::agent(left), Method::Get, url) {
            Ok(reply) if reply.status == 200 => return reply,
            Ok(reply) => last = format!("{reply:?}"),
            Err(e) => last = e.to_string(),
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("/count did not succeed within {RECOVERY:?} of Redis being back; last: {last}");
}

pub fn reads_no_redis_connection_variables(runtime: &Runtime) {
    let opts = AppOptions::new()
        .var("counter_store", "kv")
        .var("redis_host", "")
        .var("redis_port", "abc")
        .var("redis_tls", "maybe")
        .var("redis_username", "nobody")
        .var("redis_password", "e2e-unused-Secret");
    let app = App::start(runtime, &opts);

    app.get("/readyz").assert_text(200, "ready");
    assert_eq!(app.count(), 1);
    assert_eq!(app.count(), 2);
}
