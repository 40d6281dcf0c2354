//! Scenarios 7-9: Redis down (503 fast, liveness unaffected, recovery without restart, the
//! password in no reply or log), invalid settings (500 naming the variable), a non-integer key.

use std::time::Duration;

use super::WELCOME;
use crate::support::app::{App, AppOptions};
use crate::support::http::{assert_one_line, Method};
use crate::support::redis_server::{RedisOptions, RedisServer};
use crate::support::runtime::{Edition, Target};

const SECRET: &str = "e2e-Secret-Pw-7f3a";

/// With a password set, which is in the URL of every connection the app opens: it must appear
/// in no reply and no log while Redis is down (the app checks both).
pub fn redis_down_then_back(target: &Target) {
    let mut redis = RedisServer::start_with(RedisOptions {
        aof: true,
        requirepass: Some(SECRET.to_string()),
        ..RedisOptions::default()
    });
    let app = App::start(
        target,
        &AppOptions::on(&redis).var("redis_password", SECRET),
    );
    assert_eq!(app.count(), 1);

    redis.stop();

    let prefix = format!("Redis at 127.0.0.1:{} is unavailable: ", redis.port);
    for path in ["/count", "/readyz"] {
        // A Spin 4 instance's kept connection fails first (`broken pipe`) and is dropped; the
        // next request's new connection is refused. The portable edition's are refused both times.
        for attempt in 1..=2 {
            let reply = app.get(path);
            reply.assert_unavailable(&prefix);
            assert!(
                reply.elapsed < Duration::from_secs(1),
                "answered in {:?}",
                reply.elapsed
            );
            if attempt == 2 || target.edition == Edition::Portable {
                assert!(
                    reply.body.to_lowercase().contains("connection refused"),
                    "the cause is named: {reply:?}"
                );
            }
        }
    }
    let head = app.request(Method::Head, "/readyz");
    assert_eq!(
        (head.status, head.header("retry-after")),
        (503, Some("1")),
        "{head:?}"
    );
    app.get("/").assert_text(200, WELCOME);
    app.get("/healthz").assert_text(200, "ok");

    redis.restart();
    app.get("/readyz").assert_text(200, "ready");
    assert_eq!(app.count(), 2);
}

pub fn bad_settings_name_the_variable(target: &Target) {
    let redis = RedisServer::start();
    let port_message = |value: &str| {
        format!("invalid setting redis_port: \"{value}\" is not a port number (1-65535)")
    };
    let cases = [
        ("redis_port", "abc", Some(port_message("abc"))),
        ("redis_port", "0", Some(port_message("0"))),
        ("redis_port", "70000", Some(port_message("70000"))),
        ("redis_host", "", None),
        ("redis_key", "", None),
        ("redis_tls", "maybe", None),
        (
            "redis_timeout",
            "2",
            Some(
                "invalid setting redis_timeout: \"2\" is not a duration from 1ms to 60s (e.g. 2s, 500ms)"
                    .to_string(),
            ),
        ),
        ("counter_store", "foo", None),
    ];
    for (name, value, exact) in cases {
        let app = App::start(target, &AppOptions::on(&redis).var(name, value));
        for path in ["/count", "/readyz"] {
            let reply = app.get(path);
            let case = format!("{name}={value:?}, GET {path}: {reply:?}");
            assert_eq!(reply.status, 500, "{case}");
            assert!(
                reply.body.starts_with(&format!("invalid setting {name}")),
                "{case}"
            );
            if let Some(exact) = &exact {
                assert_eq!(&reply.body, exact, "{case}");
            }
            assert_one_line(&reply.body);
            reply.assert_plain_text();
        }
        app.get("/healthz").assert_text(200, "ok");
    }
    assert_eq!(redis.get("visits"), None, "nothing was counted");
}

pub fn wrong_type_key_left_untouched(target: &Target) {
    let redis = RedisServer::start();
    redis.set("visits", "hello");
    redis.set("e2e:word", "hello");
    let app = App::start(target, &AppOptions::on(&redis));
    let custom = App::start(target, &AppOptions::on(&redis).var("redis_key", "e2e:word"));

    app.get("/count").assert_text(
        500,
        "key 'visits' does not hold an integer; fix or delete it in Redis",
    );
    custom.get("/count").assert_text(
        500,
        "key 'e2e:word' does not hold an integer; fix or delete it in Redis",
    );
    // `/count` cannot succeed, so the app is not ready: readiness reads the key.
    app.get("/readyz").assert_text(
        500,
        "key 'visits' does not hold an integer; fix or delete it in Redis",
    );

    assert_eq!(redis.get("visits").as_deref(), Some("hello"));
    assert_eq!(redis.get("e2e:word").as_deref(), Some("hello"));
}
