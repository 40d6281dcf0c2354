//! Scenario 1: every route, status, body, content type and `Allow` header of the contract;
//! `HEAD /count` and rejected requests never count a visit.

use super::WELCOME;
use crate::support::app::{App, AppOptions};
use crate::support::http::Method::{Delete, Get, Head, Post, Put};
use crate::support::redis_server::RedisServer;
use crate::support::runtime::Target;

pub fn routes_statuses_and_bodies(target: &Target) {
    let redis = RedisServer::start();
    let app = App::start(target, &AppOptions::on(&redis));

    app.get("/").assert_text(200, WELCOME);
    app.get("/?utm_source=e2e").assert_text(200, WELCOME);
    app.get("/healthz").assert_text(200, "ok");
    app.get("/readyz").assert_text(200, "ready");
    for path in ["/", "/healthz", "/readyz"] {
        let head = app.request(Head, path);
        assert_eq!(head.status, 200, "HEAD {path}: {head:?}");
        head.assert_plain_text();
    }

    app.get("/count").assert_text(200, "Visit count: 1");
    let head = app.request(Head, "/count");
    assert_eq!(head.status, 405, "HEAD /count: {head:?}");
    assert_eq!(head.header("allow"), Some("GET"), "{head:?}");
    head.assert_plain_text();
    // Not counted by HEAD; the query string is ignored for routing.
    app.get("/count?from=e2e")
        .assert_text(200, "Visit count: 2");

    let not_allowed = [
        (Post, "/", "GET, HEAD"),
        (Put, "/healthz", "GET, HEAD"),
        (Delete, "/readyz", "GET, HEAD"),
        (Post, "/count", "GET"),
        (Put, "/count", "GET"),
        (Delete, "/count", "GET"),
    ];
    for (method, path, allow) in not_allowed {
        let reply = app.request(method, path);
        reply.assert_text(405, "Method not allowed");
        assert_eq!(
            reply.header("allow"),
            Some(allow),
            "{method:?} {path}: {reply:?}"
        );
    }

    for (method, path) in [
        (Get, "/nope"),
        (Get, "/count/"),
        (Get, "/counter"),
        (Get, "/count/1"),
        (Get, "/healthz/"),
        (Get, "/index.html"),
        (Post, "/nope"),
    ] {
        app.request(method, path).assert_text(404, "Not found");
    }

    assert_eq!(redis.get("visits").as_deref(), Some("2"));
}
