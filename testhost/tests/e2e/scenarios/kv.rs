//! `counter_store=kv`. On the key-value store mapped to Redis the count lands in the very
//! key `redis` mode uses; on the built-in store (in the app's state dir) it counts exactly and
//! persists across restarts. In `kv` mode no `redis_*` connection variable is read.

use std::time::Duration;

use crate::support::app::{App, AppOptions};
use crate::support::http::{self, Method};
use crate::support::load;
use crate::support::redis_server::RedisServer;
use crate::support::runtime::{Edition, Target};

pub fn redis_store_shares_key_with_redis_mode(target: &Target) {
    let redis = RedisServer::start();
    let both = apps_in_both_modes(target, &redis);
    let [redis_mode, kv_mode] = &both;

    for n in 1..=20 {
        let app = if n % 2 == 1 { redis_mode } else { kv_mode };
        assert_eq!(app.count(), n, "visit {n} alternating redis and kv mode");
    }

    assert_eq!(redis.get("visits").as_deref(), Some("20"));
    kv_mode.get("/readyz").assert_text(200, "ready");
}

/// One app in `redis` mode and one in `kv` mode on the same Redis.
fn apps_in_both_modes(target: &Target, redis: &RedisServer) -> [App; 2] {
    let redis_mode = App::start(target, &AppOptions::on(redis));
    let kv_mode = App::start(target, &AppOptions::kv_on(redis));
    [redis_mode, kv_mode]
}

pub fn redis_store_concurrent_counts_are_exact(target: &Target) {
    let redis = RedisServer::start();
    let app = App::start(target, &AppOptions::kv_on(&redis));

    let report = load::hammer(&[app.url("/count")], 64, 200);

    report.assert_exactly_one_to(12_800);
    assert_eq!(redis.get("visits").as_deref(), Some("12800"));
}

/// With the store's Redis down, Spin 4.0.2 neither answers `/count` nor `/readyz` within 30 s
/// (its key-value Redis client keeps retrying), so the component cannot turn it into a 503. What
/// must hold: a readiness probe with a timeout never sees `ready`, and liveness stays up.
pub fn redis_store_down_is_not_ready(target: &Target) {
    let mut redis = RedisServer::start();
    let app = App::start(target, &AppOptions::kv_on(&redis));
    redis.kill9();

    let probe = http::agent(Duration::from_secs(2));
    match http::send(&probe, Method::Get, &app.url("/readyz")) {
        Err(ureq::Error::Timeout(_)) => {}
        Ok(reply) => reply.assert_unavailable("key-value store 'default' is unavailable: "),
        Err(e) => panic!("GET /readyz: {e}"),
    }
    app.get("/healthz").assert_text(200, "ok");
}

/// Spin 4's `--request-timeout`, which scripts/up.sh passes on Spin 4, ends a request the
/// key-value store never answers for the WASIp3 edition (Spin answers 500 when it runs out). It
/// applies to WASIp3 handlers only: the portable edition's request still waits. Spin 3 has no such
/// flag, so this runs only on runtimes that run a WASIp3 build.
pub fn redis_store_down_with_request_timeout(target: &Target) {
    const TIMEOUT_S: u64 = 2;
    let mut redis = RedisServer::start();
    let opts = AppOptions::kv_on(&redis).flag("--request-timeout", &TIMEOUT_S.to_string());
    let app = App::start(target, &opts);
    assert_eq!(app.count(), 1);
    redis.kill9();

    // A request blocked in a key-value call holds the instance's store, so Spin can only end it
    // from outside, after up to three times the timeout (two, plus its check's own wait).
    let latest = Duration::from_secs(3 * TIMEOUT_S + 1);
    let probe = http::agent(latest + Duration::from_secs(2));
    let url = app.url("/count");
    match target.edition {
        Edition::Spin41 | Edition::Spin40 => {
            // The bucket the instance kept fails at once (its connection is gone) and is dropped;
            // opening the store again waits on Spin's reconnection, until the timeout ends it.
            app.get("/count")
                .assert_unavailable("key-value store 'default' is unavailable: ");
            let reply = http::send(&probe, Method::Get, &url)
                .expect("Spin answers when the request times out");
            assert_eq!(reply.status, 500, "{reply:?}");
            assert!(
                reply.elapsed >= Duration::from_secs(TIMEOUT_S) && reply.elapsed < latest,
                "answered after {:?}",
                reply.elapsed
            );
        }
        Edition::Portable => {
            let outcome = http::send(&probe, Method::Get, &url);
            assert!(
                matches!(outcome, Err(ureq::Error::Timeout(_))),
                "a WASIp2 handler is not timed out: {outcome:?}"
            );
        }
    }
    app.get("/healthz").assert_text(200, "ok");
}

pub fn builtin_store_counts_and_persists(target: &Target) {
    let state = tempfile::Builder::new()
        .prefix("e2e-state-")
        .tempdir()
        .expect("a state dir");
    let opts = AppOptions::kv_builtin(state.path());

    let mut app = App::start(target, &opts);
    for n in 1..=50 {
        app.get("/count")
            .assert_text(200, &format!("Visit count: {n}"));
    }
    app.get("/readyz").assert_text(200, "ready");
    app.stop();

    let app = App::start(target, &opts);
    assert_eq!(
        app.count(),
        51,
        "the built-in store persists in the state dir"
    );

    // A fresh state dir is a fresh store.
    let other = App::start(target, &AppOptions::new().var("counter_store", "kv"));
    assert_eq!(other.count(), 1);
}

/// 64 clients x 50 visits right after start, on a fresh built-in store. Spin's first
/// opens of a fresh SQLite file race and one can answer busy; the component retries that, so every
/// visit counts exactly once. The race is only in the first opens, so four more fresh starts take
/// one burst of 64 first visits each.
pub fn builtin_store_concurrent_counts_are_exact(target: &Target) {
    const CLIENTS: usize = 64;
    const PER_CLIENT: usize = 50;
    const MORE_FRESH_STARTS: usize = 4;
    let state = tempfile::Builder::new()
        .prefix("e2e-state-")
        .tempdir()
        .expect("a state dir");
    let app = App::start(target, &AppOptions::kv_builtin(state.path()));

    let report = load::hammer(&[app.url("/count")], CLIENTS, PER_CLIENT);

    report.assert_exactly_one_to((CLIENTS * PER_CLIENT) as u64);
    assert_eq!(app.count(), (CLIENTS * PER_CLIENT) as u64 + 1);
    for _ in 0..MORE_FRESH_STARTS {
        let fresh = App::start(target, &AppOptions::new().var("counter_store", "kv"));
        load::hammer(&[fresh.url("/count")], CLIENTS, 1).assert_exactly_one_to(CLIENTS as u64);
    }
}

/// Two apps (two processes) on one state dir share the SQLite file, so either can find
/// it locked at any time. A visit is counted once or answered 503 busy, never counted twice.
pub fn builtin_store_shared_by_two_apps(target: &Target) {
    let state = tempfile::Builder::new()
        .prefix("e2e-state-")
        .tempdir()
        .expect("a state dir");
    let opts = AppOptions::kv_builtin(state.path());
    let apps = [App::start(target, &opts), App::start(target, &opts)];
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

pub fn reads_no_redis_connection_variables(target: &Target) {
    let opts = AppOptions::new()
        .var("counter_store", "kv")
        .var("redis_host", "")
        .var("redis_port", "abc")
        .var("redis_tls", "maybe")
        .var("redis_username", "nobody")
        .var("redis_password", "e2e-unused-Secret");
    let app = App::start(target, &opts);

    app.get("/readyz").assert_text(200, "ready");
    assert_eq!(app.count(), 1);
    assert_eq!(app.count(), 2);
}
