//! Scenarios 2-4: exact counts, sequentially, under 64 concurrent clients, and with three app
//! processes sharing one Redis.

use std::thread;

use crate::support::app::{App, AppOptions};
use crate::support::load;
use crate::support::redis_server::RedisServer;
use crate::support::runtime::Runtime;

const CLIENTS: usize = 64;
const PER_CLIENT: usize = 200;
const TOTAL: u64 = (CLIENTS * PER_CLIENT) as u64;

pub fn sequential_counts(runtime: &Runtime) {
    let redis = RedisServer::start();
    let app = App::start(runtime, &AppOptions::on(&redis));

    for n in 1..=100 {
        app.get("/count")
            .assert_text(200, &format!("Visit count: {n}"));
    }

    assert_eq!(redis.get("visits").as_deref(), Some("100"));
}

pub fn custom_key_leaves_default_untouched(runtime: &Runtime) {
    let redis = RedisServer::start();
    redis.set("visits", "41");
    let custom = App::start(
        runtime,
        &AppOptions::on(&redis).var("redis_key", "e2e:custom"),
    );

    for n in 1..=5 {
        assert_eq!(custom.count(), n);
    }

    assert_eq!(redis.get("e2e:custom").as_deref(), Some("5"));
    assert_eq!(redis.get("visits").as_deref(), Some("41"));
    let default = App::start(runtime, &AppOptions::on(&redis));
    assert_eq!(default.count(), 42);
    assert_eq!(redis.get("e2e:custom").as_deref(), Some("5"));
}

pub fn concurrent_counts_are_exact(runtime: &Runtime) {
    let redis = RedisServer::start();
    let app = App::start(runtime, &AppOptions::on(&redis));

    let report = load::hammer(&[app.url("/count")], CLIENTS, PER_CLIENT);

    report.assert_exactly_one_to(TOTAL);
    assert_eq!(redis.get("visits"), Some(TOTAL.to_string()));
}

pub fn scale_out_three_apps_one_redis(runtime: &Runtime) {
    let redis = RedisServer::start();
    let opts = AppOptions::on(&redis);
    let apps = start_many(runtime, &opts, 3);
    let urls: Vec<String> = apps.iter().map(|app| app.url("/count")).collect();

    let report = load::hammer(&urls, CLIENTS, PER_CLIENT);

    report.assert_exactly_one_to(TOTAL);
    assert_eq!(redis.get("visits"), Some(TOTAL.to_string()));
    for app in &apps {
        app.get("/readyz").assert_text(200, "ready");
    }
}

/// Starts `n` identical apps at once (each start compiles the component).
pub fn start_many(runtime: &Runtime, opts: &AppOptions, n: usize) -> Vec<App> {
    thread::scope(|scope| {
        let starting: Vec<_> = (0..n)
            .map(|_| scope.spawn(|| App::start(runtime, opts)))
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
