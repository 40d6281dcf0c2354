//! `redis_tls=true` end to end, against a `redis-server` that speaks TLS only, with a
//! private CA and a password. Spin's outbound Redis uses OpenSSL (native-tls), which trusts the
//! system store plus `SSL_CERT_FILE` / `SSL_CERT_DIR`; the app gets the CA through `SSL_CERT_FILE`.

use std::time::Duration;

use super::WELCOME;
use crate::support::app::{App, AppOptions};
use crate::support::http::{self, Method};
use crate::support::load;
use crate::support::redis_server::{RedisOptions, RedisServer};
use crate::support::runtime::{Edition, Target};
use crate::support::tls::ServerCert;

const PASSWORD: &str = "e2e-Tls-Secret-9c1d";

fn tls_redis(cert: ServerCert) -> RedisServer {
    RedisServer::start_with(RedisOptions {
        requirepass: Some(PASSWORD.to_string()),
        tls: Some(cert),
        ..RedisOptions::default()
    })
}

/// `redis_tls=true` with the password, against `redis`.
fn tls_app(redis: &RedisServer) -> AppOptions {
    AppOptions::on(redis)
        .var("redis_tls", "true")
        .var("redis_password", PASSWORD)
}

/// Asserts a 500 on `/count` and `/readyz` that names TLS and the server, with `detail` in it.
#[track_caller]
fn assert_tls_failure(app: &App, redis: &RedisServer, detail: &str) {
    let prefix = format!("TLS with Redis at 127.0.0.1:{} failed: ", redis.port);
    for path in ["/count", "/readyz"] {
        let reply = app.get(path);
        assert_eq!(reply.status, 500, "{reply:?}");
        assert!(
            reply.body.starts_with(&prefix) && reply.body.contains(detail),
            "GET {path} should name TLS and say {detail:?}: {reply:?}"
        );
        assert!(reply.body.ends_with("(SSL_CERT_FILE)"), "{reply:?}");
        reply.assert_plain_text();
    }
}

pub fn tls_with_password_counts_exactly(target: &Target) {
    let redis = tls_redis(ServerCert::Valid);
    let app = App::start(
        target,
        &tls_app(&redis).env_file("SSL_CERT_FILE", redis.ca_file()),
    );

    for n in 1..=10 {
        assert_eq!(app.count(), n);
    }
    let report = load::hammer(&[app.url("/count")], 32, 25);

    let mut counts = report.counts.clone();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (11..=810).collect::<Vec<u64>>(),
        "{:?}",
        report.statuses
    );
    assert_eq!(redis.get("visits").as_deref(), Some("810"));
    app.get("/readyz").assert_text(200, "ready");
}

pub fn tls_untrusted_or_expired_certificate_is_named(target: &Target) {
    let redis = tls_redis(ServerCert::Valid);
    // Without SSL_CERT_FILE naming the private CA, only the system store is trusted.
    let untrusted = App::start(target, &tls_app(&redis));
    assert_tls_failure(&untrusted, &redis, "certificate verify failed");

    let expired = tls_redis(ServerCert::Expired);
    let app = App::start(
        target,
        &tls_app(&expired).env_file("SSL_CERT_FILE", expired.ca_file()),
    );
    assert_tls_failure(&app, &expired, "certificate has expired");
    app.get("/healthz").assert_text(200, "ok");
    assert_eq!(redis.get("visits"), None, "nothing was counted");
}

/// `rediss://` to a plain-text port: Spin sends its TLS hello, Redis waits for the end of what
/// it takes for a command, and neither ever answers: Spin sets no timeout on outbound Redis. The
/// WASIp3 edition's `redis_timeout` ends the request with a 503; the portable edition's request
/// hangs. What must hold: never a success, and liveness stays.
pub fn tls_against_plain_text_port_never_succeeds(target: &Target) {
    let redis = RedisServer::start_with(RedisOptions {
        requirepass: Some(PASSWORD.to_string()),
        ..RedisOptions::default()
    });
    let app = App::start(target, &tls_app(&redis));

    let probe = http::agent(Duration::from_secs(3));
    let outcome = http::send(&probe, Method::Get, &app.url("/count"));
    match (target.edition, outcome) {
        (Edition::Spin41 | Edition::Spin40, Ok(reply)) => {
            let timed_out = format!(
                "Redis at 127.0.0.1:{} did not answer within 2 s",
                redis.port
            );
            reply.assert_text(503, &timed_out);
            assert_eq!(reply.header("retry-after"), Some("1"), "{reply:?}");
        }
        (Edition::Portable, Err(ureq::Error::Timeout(_))) => {}
        (_, other) => panic!("expected no success within 3 s, got {other:?}"),
    }
    app.get("/").assert_text(200, WELCOME);
    app.get("/healthz").assert_text(200, "ok");
    assert_eq!(redis.get("visits"), None);
}
