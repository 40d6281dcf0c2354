//! Concurrent clients hammering `/count`, each on its own keep-alive connection, recording every
//! status and every number returned, so scenarios can assert exactness (no duplicate, no gap).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use libtest_mimic::Trial;

use super::http::{self, parse_count, Method, Reply};
use super::wait_for;

/// What a load run saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Status -> how many replies had it.
    pub statuses: BTreeMap<u16, u64>,
    /// The N of every `200 Visit count: N`.
    pub counts: Vec<u64>,
    /// Transport errors (connection reset, timeout...).
    pub errors: Vec<String>,
    /// 200 replies whose body was not `Visit count: N`.
    pub bad_bodies: Vec<String>,
    /// Every request, in the order each client sent them.
    pub timeline: Vec<Sent>,
}

/// One request of a load run: when it was sent, how long it took, and its answer.
#[derive(Debug)]
pub struct Sent {
    pub at: Instant,
    pub took: Duration,
    pub status: Option<u16>,
    pub body: String,
}

impl LoadReport {
    pub fn merge(&mut self, other: LoadReport) {
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.counts.extend(other.counts);
        self.errors.extend(other.errors);
        self.bad_bodies.extend(other.bad_bodies);
        self.timeline.extend(other.timeline);
    }

    /// Sends one `GET /count` and adds its outcome; returns its status, if it got one.
    pub fn send(&mut self, agent: &ureq::Agent, url: &str) -> Option<u16> {
        let at = Instant::now();
        let outcome = http::send(agent, Method::Get, url);
        let (status, body) = match &outcome {
            Ok(reply) => (Some(reply.status), reply.body.clone()),
            Err(e) => (None, e.to_string()),
        };
        let took = at.elapsed();
        self.timeline.push(Sent {
            at,
            took,
            status,
            body,
        });
        self.record(outcome)
    }

    /// Adds the outcome of one `GET /count`; returns its status, if it got one.
    fn record(&mut self, outcome: Result<Reply, ureq::Error>) -> Option<u16> {
        match outcome {
            Ok(reply) => {
                *self.statuses.entry(reply.status).or_default() += 1;
                if reply.status == 200 {
                    match parse_count(&reply.body) {
                        Some(n) => self.counts.push(n),
                        None => self.bad_bodies.push(reply.body),
                    }
                }
                Some(reply.status)
            }
            Err(e) => {
                self.errors.push(e.to_string());
                None
            }
        }
    }

    /// Every request got an HTTP answer, and every 200 was `Visit count: N`.
    #[track_caller]
    fn assert_every_reply_well_formed(&self) {
        assert!(
            self.errors.is_empty(),
            "{} transport errors, first: {}",
            self.errors.len(),
            self.errors[0]
        );
        assert!(
            self.bad_bodies.is_empty(),
            "bad 200 bodies: {:?}",
            &self.bad_bodies[..self.bad_bodies.len().min(5)]
        );
    }

    pub fn ok(&self) -> u64 {
        self.statuses.get(&200).copied().unwrap_or(0)
    }

    /// Every reply was `200 Visit count: N` and the Ns are exactly 1..=expected.
    #[track_caller]
    pub fn assert_exactly_one_to(&self, expected: u64) {
        self.assert_every_reply_well_formed();
        assert_eq!(
            self.statuses,
            BTreeMap::from([(200, expected)]),
            "statuses of {expected} requests"
        );
        let mut counts = self.counts.clone();
        counts.sort_unstable();
        let mut duplicates = Vec::new();
        let mut gaps = Vec::new();
        let mut next = 1;
        for pair in counts.windows(2).filter(|w| w[0] == w[1]) {
            duplicates.push(pair[0]);
        }
        counts.dedup();
        for &n in &counts {
            gaps.extend(next..n.min(expected + 1));
            next = n + 1;
        }
        gaps.extend(next..=expected);
        assert!(
            duplicates.is_empty() && gaps.is_empty() && counts.last() == Some(&expected),
            "returned numbers are not exactly 1..={expected}: {} duplicates (first {:?}), {} missing (first {:?}), max {:?}",
            duplicates.len(),
            &duplicates[..duplicates.len().min(10)],
            gaps.len(),
            &gaps[..gaps.len().min(10)],
            counts.last()
        );
    }
}

impl LoadReport {
    /// Requests sent that could have counted a visit: every reply, whatever its status, and
    /// every request that got none (its INCR may have been applied all the same).
    pub fn sent(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.errors.len() as u64
    }

    /// What must hold however a store outage went: only `allowed` statuses, every 200 a distinct
    /// number, and `stored` (the key read back from Redis afterwards, counted from 0) at least as
    /// high as every number handed out and as the number of acknowledged visits (none lost), and
    /// no higher than the number of requests that could have counted (none counted twice).
    #[track_caller]
    pub fn assert_nothing_lost_or_doubled(&self, stored: u64, allowed: &[u16]) {
        self.assert_every_reply_well_formed();
        if let Err(e) = self.nothing_lost_or_doubled(stored, allowed) {
            panic!("{e}");
        }
    }

    fn nothing_lost_or_doubled(&self, stored: u64, allowed: &[u16]) -> Result<(), String> {
        if let Some(status) = self.statuses.keys().find(|s| !allowed.contains(s)) {
            return Err(format!(
                "status {status}: only {allowed:?} expected: {:?}",
                self.statuses
            ));
        }
        let ok = self.ok();
        let distinct: BTreeSet<_> = self.counts.iter().collect();
        if distinct.len() as u64 != ok {
            return Err(format!(
                "{ok} acknowledged visits got only {} distinct numbers",
                distinct.len()
            ));
        }
        let highest = self.counts.iter().max().copied().unwrap_or(0);
        if stored < ok || stored < highest {
            return Err(format!(
                "lost acknowledged visits: stored {stored}, {ok} acknowledged, highest number \
                 returned {highest}"
            ));
        }
        let sent = self.sent();
        if stored > sent {
            return Err(format!(
                "visits counted twice: stored {stored}, but only {sent} requests were sent \
                 ({ok} acknowledged, {} failed, {} without an answer)",
                sent - ok - self.errors.len() as u64,
                self.errors.len()
            ));
        }
        Ok(())
    }
}

/// Checks of [`LoadReport::assert_nothing_lost_or_doubled`] itself, run as trials of the suite:
/// it must refuse a doubled count and a lost one, and accept an outage's honest outcome.
pub fn self_checks() -> Vec<Trial> {
    /// 5 requests: 3 acknowledged as 1, 2 and 4, one 503, one that timed out.
    fn outage() -> LoadReport {
        LoadReport {
            statuses: BTreeMap::from([(200, 3), (503, 1)]),
            counts: vec![1, 2, 4],
            errors: vec!["timed out".into()],
            ..LoadReport::default()
        }
    }
    let check = |name: &str, test: fn() -> Result<(), String>| {
        Trial::test(format!("support::load::{name}"), move || Ok(test()?))
    };
    vec![
        check("accepts_every_outcome_an_outage_allows", || {
            let report = outage();
            for stored in [4, 5] {
                report.nothing_lost_or_doubled(stored, &[200, 503])?;
            }
            Ok(())
        }),
        check("refuses_a_doubled_count", || {
            match outage().nothing_lost_or_doubled(6, &[200, 503]) {
                Err(e) if e.starts_with("visits counted twice: stored 6, but only 5") => Ok(()),
                other => Err(format!("a doubled count passed: {other:?}")),
            }
        }),
        check("refuses_a_lost_count", || {
            match outage().nothing_lost_or_doubled(3, &[200, 503]) {
                Err(e) if e.starts_with("lost acknowledged visits: stored 3") => Ok(()),
                other => Err(format!("a lost count passed: {other:?}")),
            }
        }),
        check("refuses_a_number_handed_out_twice", || {
            let mut report = outage();
            report.counts = vec![1, 2, 2];
            match report.nothing_lost_or_doubled(5, &[200, 503]) {
                Err(e) if e.contains("only 2 distinct numbers") => Ok(()),
                other => Err(format!("a repeated number passed: {other:?}")),
            }
        }),
        check("refuses_a_status_not_allowed", || {
            match outage().nothing_lost_or_doubled(5, &[200]) {
                Err(e) if e.starts_with("status 503") => Ok(()),
                other => Err(format!("a 503 passed: {other:?}")),
            }
        }),
    ]
}

/// Runs `clients` clients counting on `url`, waits for `warm_up` acknowledged visits, runs `act`
/// under that load (it gets the running count of acknowledged visits), then stops the clients.
pub fn during<R>(
    url: &str,
    clients: usize,
    warm_up: u64,
    act: impl FnOnce(&AtomicU64) -> R,
) -> (LoadReport, R) {
    let stop = AtomicBool::new(false);
    let acked = AtomicU64::new(0);
    thread::scope(|scope| {
        let load = scope.spawn(|| until_stopped(url, clients, &stop, &acked));
        // Stops the clients even when `act` panics, so the scope can end.
        let stop_guard = StopOnDrop(&stop);
        wait_for(
            &format!("{warm_up} acknowledged visits"),
            Duration::from_secs(60),
            || (acked.load(Ordering::SeqCst) >= warm_up).then_some(()),
        )
        .unwrap();
        let result = act(&acked);
        drop(stop_guard);
        (load.join().unwrap(), result)
    })
}

/// Sets the flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// `clients` threads, client `i` sending `per_client` sequential `GET /count` to `urls[i % len]`.
pub fn hammer(urls: &[String], clients: usize, per_client: usize) -> LoadReport {
    run(urls, clients, |_, done| done < per_client)
}

/// Like [`hammer`] but each client keeps going until `stop` is set; `ok` counts 200s as they come.
pub fn until_stopped(url: &str, clients: usize, stop: &AtomicBool, ok: &AtomicU64) -> LoadReport {
    let urls = [url.to_string()];
    run(&urls, clients, |status, _| {
        if status == Some(200) {
            ok.fetch_add(1, Ordering::SeqCst);
        }
        !stop.load(Ordering::SeqCst)
    })
}

/// The shared loop: `go_on(last status, requests done)` decides whether a client sends another.
fn run(
    urls: &[String],
    clients: usize,
    go_on: impl Fn(Option<u16>, usize) -> bool + Sync,
) -> LoadReport {
    let total = Arc::new(Mutex::new(LoadReport::default()));
    // Every client sends its first request at the same moment: a burst, as at a start under load.
    let start = Barrier::new(clients);
    thread::scope(|scope| {
        for i in 0..clients {
            let url = urls[i % urls.len()].clone();
            let total = Arc::clone(&total);
            let go_on = &go_on;
            let start = &start;
            scope.spawn(move || {
                let agent = http::agent(Duration::from_secs(30));
                start.wait();
                let mut mine = LoadReport::default();
                let mut done = 0;
                let mut last = None;
                while go_on(last, done) {
                    done += 1;
                    last = mine.send(&agent, &url);
                }
                total.lock().unwrap().merge(mine);
            });
        }
    });
    Arc::try_unwrap(total)
        .expect("all clients joined")
        .into_inner()
        .unwrap()
}
