//! Scenario 11: the real `spin.toml` allows exactly the Redis its variables name (so any host
//! spelling works), and a manifest whose allow-list does not match the Redis is refused.

use std::fs;
use std::path::PathBuf;

use tempfile::TempDir;

use crate::support::app::{App, AppOptions};
use crate::support::free_port;
use crate::support::redis_server::RedisServer;
use crate::support::runtime::{Edition, Target};

pub fn allow_list_follows_redis_variables(target: &Target) {
    let redis = RedisServer::start();
    let port = redis.port.to_string();
    let mut expected = 0;

    for host in ["127.0.0.1", "localhost"] {
        let app = App::start(
            target,
            &AppOptions::new()
                .var("redis_host", host)
                .var("redis_port", &port),
        );
        app.get("/readyz").assert_text(200, "ready");
        for _ in 0..2 {
            expected += 1;
            assert_eq!(app.count(), expected, "redis_host={host}");
        }
    }

    assert_eq!(redis.get("visits"), Some(expected.to_string()));
}

/// A copy of the edition's manifest in a temp dir, with an absolute `source` and this allow-list.
fn manifest_copy(edition: Edition, allowed: &str) -> (TempDir, PathBuf) {
    let text = fs::read_to_string(edition.manifest()).expect("read the manifest");
    let source = edition.source_line();
    assert!(
        text.contains(&source),
        "{} should name the built component: {source}",
        edition.manifest().display()
    );
    let text = text.replace(
        &source,
        &format!("source = {:?}", edition.wasm().display().to_string()),
    );
    let start = text
        .find("allowed_outbound_hosts = [")
        .expect("spin.toml has allowed_outbound_hosts");
    let end = start
        + text[start..]
            .find(']')
            .expect("the allow-list array closes")
        + 1;
    let text = format!(
        "{}allowed_outbound_hosts = [{allowed:?}]{}",
        &text[..start],
        &text[end..]
    );
    let dir = tempfile::Builder::new()
        .prefix("e2e-manifest-")
        .tempdir()
        .expect("temp dir for the manifest copy");
    let path = dir.path().join("spin.toml");
    fs::write(&path, text).expect("write the manifest copy");
    (dir, path)
}

pub fn mismatched_allow_list_is_refused(target: &Target) {
    let redis = RedisServer::start();
    let elsewhere = format!("redis://127.0.0.1:{}", free_port());
    let (_dir, mismatched) = manifest_copy(target.edition, &elsewhere);

    let app = App::start(target, &AppOptions::on(&redis).manifest(&mismatched));

    // A configuration error: a 500 that names the allow-list and what it must list, with no
    // Retry-After, since waiting cannot fix it.
    let refused = format!(
        "Redis at 127.0.0.1:{port} is not allowed by allowed_outbound_hosts in spin.toml: list \
         redis://127.0.0.1:{port} there, or set redis_host and redis_port to what it lists",
        port = redis.port
    );
    for path in ["/count", "/readyz"] {
        let reply = app.get(path);
        reply.assert_text(500, &refused);
        assert_eq!(reply.header("retry-after"), None, "{reply:?}");
    }
    assert_eq!(redis.get("visits"), None, "nothing reached Redis");

    // The same copy with a matching allow-list counts: only the allow-list made the difference.
    let (_dir, matching) =
        manifest_copy(target.edition, &format!("redis://127.0.0.1:{}", redis.port));
    let app = App::start(target, &AppOptions::on(&redis).manifest(&matching));
    assert_eq!(app.count(), 1);
}
