//! A client that keeps its connection alive (a browser, a load balancer, nginx with `keepalive`)
//! gets every answer at once: each reply carries its length and reaches the runtime whole, so the
//! runtime can send it in one write. A reply sent in two writes (a head alone, a terminating
//! chunk) waits for the client's delayed ACK, since Spin's server leaves Nagle's algorithm on:
//! about 40 ms, which this scenario tells apart from an ordinary reply by a wide margin.
//!
//! The portable edition hands Spin a finished body, so none of its replies may wait. A WASIp3
//! component can only have its body write pending when it returns the response: Spin hands the
//! response to its HTTP server before the store's event loop copies that body out (Wasmtime
//! starts the copy as a task of that loop), and when the server wins the race it sends the head
//! alone. That race is Spin's; it is allowed here at most once in a hundred replies a route.

use std::time::Duration;

use super::WELCOME;
use crate::support::app::{App, AppOptions};
use crate::support::http::Method::{Get, Head};
use crate::support::http::Reply;
use crate::support::kept::KeptConnection;
use crate::support::redis_server::RedisServer;
use crate::support::runtime::{Edition, Target};

const WARM_UP: usize = 20;
const PER_ROUTE: usize = 300;
/// The slowest reply in a hundred, on every route.
const P99_AT_MOST: Duration = Duration::from_millis(2);
/// Far below the ~40 ms a reply that waits for a delayed ACK takes, far above any other.
const STALLED: Duration = Duration::from_millis(30);

pub fn one_connection_answers_at_once(target: &Target) {
    let redis = RedisServer::start();
    let app = App::start(target, &AppOptions::on(&redis));
    let mut connection = KeptConnection::open(app.port);
    let routes = ["/", "/healthz", "/count"];
    let mut visits = 0;
    let mut get = |connection: &mut KeptConnection, path: &str| {
        let reply = connection.send(Get, path);
        let body = if path == "/count" {
            visits += 1;
            format!("Visit count: {visits}")
        } else if path == "/" {
            WELCOME.to_string()
        } else {
            "ok".to_string()
        };
        reply.assert_text(200, &body);
        reply
    };

    for path in routes.iter().cycle().take(WARM_UP) {
        get(&mut connection, path);
    }
    let mut times: [Vec<Duration>; 3] = Default::default();
    let mut replies = Vec::new();
    for _ in 0..PER_ROUTE {
        for (path, times) in routes.iter().zip(&mut times) {
            let reply = get(&mut connection, path);
            times.push(reply.elapsed);
            replies.push(reply);
        }
    }

    // Per route: (path, p99, how many waited for a delayed ACK, the line that reports it).
    let mut measured = Vec::new();
    for (path, times) in routes.iter().zip(&mut times) {
        times.sort();
        let (p99, max) = (times[times.len() * 99 / 100 - 1], times[times.len() - 1]);
        let stalled = times.iter().filter(|t| **t > STALLED).count();
        let p50 = times[times.len() / 2];
        let line =
            format!("{path}: p50 {p50:?}, p99 {p99:?}, max {max:?}, {stalled} over {STALLED:?}");
        measured.push((path, p99, stalled, line));
    }
    let report: Vec<&str> = measured.iter().map(|(.., line)| line.as_str()).collect();
    let report = report.join("; ");
    println!("{target}: {PER_ROUTE} GETs a route on one connection: {report}");
    let may_stall = match target.edition {
        Edition::Portable => 0,
        Edition::Spin41 | Edition::Spin40 => PER_ROUTE / 100,
    };
    for (path, p99, stalled, _) in &measured {
        assert!(
            *p99 <= P99_AT_MOST,
            "{path} p99 above {P99_AT_MOST:?}: {report}"
        );
        assert!(
            *stalled <= may_stall,
            "{path}: {stalled} replies waited for a delayed ACK, at most {may_stall} may: {report}"
        );
    }
    replies.iter().for_each(assert_framed_by_length);
    // HEAD has the GET body's length and no body: the next reply on the connection parses.
    let head = connection.send(Head, "/");
    assert_eq!(head.status, 200, "HEAD /: {head:?}");
    let length = WELCOME.len().to_string();
    assert_eq!(
        head.header("content-length"),
        Some(length.as_str()),
        "{head:?}"
    );
    assert_framed_by_length(&get(&mut connection, "/"));
    assert_eq!(redis.get("visits"), Some(visits.to_string()));
}

/// The reply says its length, the body has it, and nothing is chunked.
#[track_caller]
fn assert_framed_by_length(reply: &Reply) {
    assert_eq!(
        reply.header("content-length"),
        Some(reply.body.len().to_string().as_str()),
        "{reply:?}"
    );
    assert_eq!(reply.header("transfer-encoding"), None, "{reply:?}");
}
