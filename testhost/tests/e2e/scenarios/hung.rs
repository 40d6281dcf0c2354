//! A Redis that accepts connections but answers nothing (`kill -STOP`: what a
//! black-holed network, a failover or a Redis stuck in a slow command look like) for 6 s, while
//! 16 clients count, then resumes (`kill -CONT`).
//!
//! The WASIp3 builds' outbound Redis calls are async, so they race each against
//! `redis_timeout` (2 s): every `/count` answers 503 within the bound, with or without Spin's
//! `--request-timeout` (the containerd shim passes none). The portable edition's calls and every
//! key-value call block until Spin answers, so nothing in the component can bound them: those
//! requests wait for Redis and count once it resumes. Either way no number is handed out twice
//! and none is lost.

use std::thread;
use std::time::{Duration, Instant};

use crate::support::app::{App, AppOptions};
use crate::support::http::{self, Method};
use crate::support::load::{self, LoadReport};
use crate::support::redis_server::{RedisOptions, RedisServer};
use crate::support::runtime::Target;

const CLIENTS: usize = 16;
const STOPPED: Duration = Duration::from_secs(6);
/// `redis_timeout`'s default, plus what a busy machine may add.
const BOUNDED: Duration = Duration::from_millis(2500);
/// How soon after `kill -CONT` a visit must count again.
const RECOVERY: Duration = Duration::from_millis(1500);

pub fn redis_hung_under_load(target: &Target) {
    hung_under_load(target, Mode::Redis, &[]);
}

/// The same with Spin's `--request-timeout` (5 s, as scripts/up.sh passes it): the component's
/// own bound still answers first.
pub fn redis_hung_under_load_with_request_timeout(target: &Target) {
    hung_under_load(target, Mode::Redis, &["--request-timeout", "5"]);
}

pub fn kv_redis_store_hung_under_load(target: &Target) {
    hung_under_load(target, Mode::KeyValue, &[]);
}

/// What clients saw while Redis was stopped, and after.
struct Outage {
    report: LoadReport,
    stopped: Instant,
    resumed: Instant,
    /// `GET /` and `GET /healthz` sent while Redis was stopped: path, status, how long.
    probes: Vec<(&'static str, Option<u16>, Duration)>,
}

/// Redis mode runs with a password: it is in the URL of the connection that hangs, and must
/// appear in no reply and no log (the app checks both).
const PASSWORD: &str = "e2e-Hung-Secret-41d0";

/// How the app counts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Redis,
    KeyValue,
}

fn hung_under_load(target: &Target, mode: Mode, flags: &[&str]) {
    let redis_mode = mode == Mode::Redis;
    let redis = RedisServer::start_with(RedisOptions {
        requirepass: redis_mode.then(|| PASSWORD.to_string()),
        ..RedisOptions::default()
    });
    let mut opts = match mode {
        Mode::Redis => AppOptions::on(&redis).var("redis_password", PASSWORD),
        Mode::KeyValue => AppOptions::kv_on(&redis),
    };
    for pair in flags.chunks(2) {
        opts = opts.flag(pair[0], pair[1]);
    }
    let app = App::start(target, &opts);
    let outage = stop_redis_under_load(&app, &redis);

    let bounded = target.edition.is_wasip3() && redis_mode;
    let stored: u64 = (redis.get("visits").expect("the key exists"))
        .parse()
        .expect("an integer");
    let allowed: &[u16] = if bounded { &[200, 503] } else { &[200] };
    outage
        .report
        .assert_nothing_lost_or_doubled(stored, allowed);
    let counted_after = |sent: &&load::Sent| sent.at >= outage.resumed && sent.status == Some(200);
    let first_after = (outage.report.timeline.iter().filter(counted_after))
        .map(|sent| sent.at + sent.took - outage.resumed)
        .min();
    assert!(
        first_after.is_some_and(|after| after <= RECOVERY),
        "no visit counted within {RECOVERY:?} of Redis resuming: first after {first_after:?}"
    );

    let timed_out = format!(
        "Redis at 127.0.0.1:{} did not answer within 2 s",
        redis.port
    );
    for sent in &outage.report.timeline {
        assert!(
            !sent.body.contains(PASSWORD),
            "the password leaked: {sent:?}"
        );
        let sent_while_stopped = sent.at >= outage.stopped && sent.at < outage.resumed;
        if bounded {
            assert!(
                sent.took <= BOUNDED,
                "a /count took {:?}: {sent:?}",
                sent.took
            );
            if sent_while_stopped && sent.at + sent.took < outage.resumed {
                assert_eq!(
                    (sent.status, sent.body.as_str()),
                    (Some(503), timed_out.as_str()),
                    "a /count sent while Redis was stopped: {sent:?}"
                );
            }
        } else if sent_while_stopped {
            assert!(
                sent.at + sent.took >= outage.resumed,
                "a /count sent {:?} after Redis was stopped answered {:?} before it resumed, \
                 {:?} after the stop: {sent:?}",
                sent.at - outage.stopped,
                outage.resumed - (sent.at + sent.took),
                outage.resumed - outage.stopped,
            );
        }
    }
    // Whatever the waiting `/count`s do, the rest is answered: at once by a fresh instance (the
    // portable edition) or beside the timed calls (a WASIp3 build in redis mode). A key-value call
    // blocks its whole WASIp3 instance, and Spin 4.1 may hand a probe to an instance so blocked
    // (Spin 4.0.2 did not): then it waits with it, and is answered once Redis is back.
    let probe_bound = if bounded || !target.edition.is_wasip3() {
        Duration::from_secs(1)
    } else {
        STOPPED + RECOVERY
    };
    for &(path, status, took) in &outage.probes {
        assert!(
            status == Some(200) && took <= probe_bound,
            "GET {path} while Redis was stopped: {status:?} after {took:?}"
        );
    }
    assert_eq!(app.count(), stored + 1, "counting goes on");
}

/// 16 clients count on `app`; Redis is stopped for [`STOPPED`] while `/` and `/healthz` are
/// probed, then resumed; the clients go on for [`RECOVERY`] more.
fn stop_redis_under_load(app: &App, redis: &RedisServer) -> Outage {
    let (report, (stopped, resumed, probes)) =
        load::during(&app.url("/count"), CLIENTS, 200, |_| {
            redis.pause();
            let stopped = Instant::now();
            let probe = http::agent(STOPPED + Duration::from_secs(10));
            let mut probes = Vec::new();
            while stopped.elapsed() < STOPPED {
                for path in ["/", "/healthz"] {
                    let reply = http::send(&probe, Method::Get, &app.url(path));
                    let took = reply.as_ref().map_or(Duration::MAX, |r| r.elapsed);
                    probes.push((path, reply.ok().map(|r| r.status), took));
                }
                thread::sleep(Duration::from_millis(500));
            }
            // Taken before SIGCONT (and `stopped` after SIGSTOP): on a busy machine this thread
            // may run again only after Redis has already answered.
            let resumed = Instant::now();
            redis.resume();
            thread::sleep(RECOVERY + Duration::from_millis(500));
            (stopped, resumed, probes)
        });
    Outage {
        report,
        stopped,
        resumed,
        probes,
    }
}
