//! `--scale app=3` behind one address. Three apps on one Redis, each on its own
//! loopback port, behind the compose profile's nginx and its config file (`support::proxy`):
//! the proxy spreads the visits over all three, and never re-sends a `/count` that may have
//! reached a replica, whether the replica died (`kill -9`) or stalled (`SIGSTOP`) with it.
//! With `deploy/compose/tls.yaml`'s HTTPS on, the same proxy answers alike over TLS.

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use super::counting::start_many;
use super::WELCOME;
use crate::support::app::{App, AppOptions};
use crate::support::http::Method;
use crate::support::load;
use crate::support::proxy::Proxy;
use crate::support::redis_server::RedisServer;
use crate::support::runtime::Target;
use crate::support::tls::{self, ServerCert};
use crate::support::wait_for;

/// nginx.conf's `proxy_read_timeout` for a stalled replica, plus a margin.
const STALLED: Duration = Duration::from_secs(12);

struct Replicas {
    redis: RedisServer,
    apps: Vec<App>,
    proxy: Proxy,
}

fn three_replicas(target: &Target) -> Replicas {
    behind(target, Proxy::start)
}

/// Three apps on one fresh Redis, behind the proxy `start` starts in front of their ports.
fn behind(target: &Target, start: fn(&[u16]) -> Proxy) -> Replicas {
    let redis = RedisServer::start();
    let apps = start_many(target, &AppOptions::on(&redis), 3);
    let ports: Vec<u16> = apps.iter().map(|app| app.port).collect();
    let proxy = start(&ports);
    Replicas { redis, apps, proxy }
}

impl Replicas {
    fn stored(&self) -> u64 {
        let value = self.redis.get("visits").unwrap_or_else(|| "0".into());
        value.parse().expect("the count is an integer")
    }

    /// Waits until no replica is still counting a visit it received (the count holds still).
    fn settled(&self) -> u64 {
        let mut last = self.stored();
        wait_for("the count to settle", Duration::from_secs(20), || {
            thread::sleep(Duration::from_millis(500));
            let now = std::mem::replace(&mut last, self.stored());
            (now == last).then_some(now)
        })
        .unwrap()
    }

    /// nginx tried each `/count` on one replica only: none was re-sent.
    #[track_caller]
    fn assert_no_count_resent(&self) {
        let attempts = self.proxy.count_attempts();
        assert!(!attempts.is_empty(), "the access log has no GET /count");
        let resent: Vec<_> = attempts.iter().filter(|tried| tried.len() > 1).collect();
        assert!(
            resent.is_empty(),
            "/count re-sent to another replica: {resent:?}"
        );
    }

    fn address(&self, app: usize) -> String {
        format!("127.0.0.1:{}", self.apps[app].port)
    }

    /// Waits for `more` visits acknowledged after this call, so counting goes on.
    fn goes_on(acked: &AtomicU64, more: u64) {
        let from = acked.load(Ordering::SeqCst);
        wait_for(
            &format!("{more} more acknowledged visits"),
            Duration::from_secs(60),
            || (acked.load(Ordering::SeqCst) >= from + more).then_some(()),
        )
        .unwrap();
    }
}

pub fn three_replicas_behind_one_proxy_count_exactly(target: &Target) {
    const CLIENTS: usize = 64;
    const EACH: usize = 100;
    const VISITS: u64 = (CLIENTS * EACH) as u64;
    let replicas = three_replicas(target);
    let proxy = &replicas.proxy;
    proxy.request(Method::Get, "/").assert_text(200, WELCOME);
    proxy
        .request(Method::Get, "/healthz")
        .assert_text(200, "ok");
    proxy
        .request(Method::Get, "/readyz")
        .assert_text(200, "ready");
    proxy
        .request(Method::Get, "/count/")
        .assert_text(404, "Not found");
    let head = proxy.request(Method::Head, "/count");
    assert_eq!((head.status, head.header("allow")), (405, Some("GET")));

    let report = load::hammer(&[proxy.url("/count")], CLIENTS, EACH);

    report.assert_exactly_one_to(VISITS);
    assert_eq!(replicas.stored(), VISITS);
    let sent = proxy.counts_sent_to();
    println!("/count sent to each replica: {sent:?}");
    for app in 0..3 {
        let address = replicas.address(app);
        assert!(
            sent.get(&address).is_some_and(|&n| n > 0),
            "{address} served nothing: {sent:?}"
        );
    }
    assert_eq!(sent.values().sum::<u64>(), VISITS);
    replicas.assert_no_count_resent();
}

pub fn replica_killed_under_load_behind_the_proxy(target: &Target) {
    let mut replicas = three_replicas(target);
    let url = replicas.proxy.url("/count");
    let (report, ()) = load::during(&url, 32, 300, |acked| {
        replicas.apps[0].kill9();
        Replicas::goes_on(acked, 1000);
    });

    let stored = replicas.settled();
    println!(
        "replica killed: {:?}, Redis holds {stored}",
        report.statuses
    );
    // A request the dead replica had, or a connection it refused, is a 502: never re-sent.
    report.assert_nothing_lost_or_doubled(stored, &[200, 502]);
    replicas.assert_no_count_resent();
}

pub fn replica_stalled_under_load_behind_the_proxy(target: &Target) {
    let replicas = three_replicas(target);
    let url = replicas.proxy.url("/count");
    let (report, ()) = load::during(&url, 16, 300, |acked| {
        replicas.apps[0].signal(libc::SIGSTOP);
        thread::sleep(STALLED);
        replicas.apps[0].signal(libc::SIGCONT);
        Replicas::goes_on(acked, 500);
    });

    // Resumed, the replica counts the visits it had received: Redis may hold more than the 200s,
    // but never more than the requests sent (a re-sent one would count twice).
    let stored = replicas.settled();
    println!(
        "replica stalled: {:?}, Redis holds {stored}",
        report.statuses
    );
    assert!(
        report.statuses.contains_key(&504),
        "no request waited on the stalled replica: {:?}",
        report.statuses
    );
    report.assert_nothing_lost_or_doubled(stored, &[200, 504]);
    replicas.assert_no_count_resent();
}

/// nginx.conf with deploy/compose/tls.conf included, on a certificate of the test's own CA:
/// `/` and `/count` answer exactly over HTTPS to both names the certificate holds, and the plain
/// port goes on beside it; a client trusting another CA refuses the certificate, and plain HTTP
/// on the HTTPS port gets nginx's 400 (or a close) at once, counting nothing.
pub fn https_through_the_proxy_answers_exactly(target: &Target) {
    let replicas = behind(target, Proxy::start_with_tls);
    let proxy = &replicas.proxy;
    let ca = proxy.ca();
    let https = |name: &str, path: &str| {
        proxy
            .https_get(name, path, &ca)
            .unwrap_or_else(|e| panic!("GET {path} over HTTPS to {name}: {e}"))
    };
    https("127.0.0.1", "/").assert_text(200, WELCOME);
    let names = ["127.0.0.1", "localhost"].into_iter().cycle();
    for (visit, name) in (1..=4).zip(names) {
        https(name, "/count").assert_text(200, &format!("Visit count: {visit}"));
    }
    proxy
        .request(Method::Get, "/count")
        .assert_text(200, "Visit count: 5");

    let elsewhere = tempfile::tempdir().expect("a temp dir for another CA");
    let another_ca = tls::write(elsewhere.path(), ServerCert::Valid).ca;
    let error = proxy
        .https_get("127.0.0.1", "/count", &another_ca)
        .expect_err("a certificate signed by another CA was trusted");
    assert!(error.contains("certificate verify failed"), "{error}");

    let (answer, took) = proxy.plain_http_to_tls_port("/count");
    assert!(
        took < Duration::from_secs(5),
        "plain HTTP on the HTTPS port took {took:?} to be answered: {answer:?}"
    );
    assert!(
        answer.is_empty()
            || (answer.starts_with("HTTP/1.1 400 ")
                && answer.contains("The plain HTTP request was sent to HTTPS port")),
        "plain HTTP on the HTTPS port: {answer:?}"
    );
    assert_eq!(
        replicas.stored(),
        5,
        "only the five acknowledged visits count"
    );
    replicas.assert_no_count_resent();
}
