//! One component instance: what it keeps between the requests it serves, and how it serves one.
//!
//! Spin reuses a WASIp3 instance for up to 128 requests, up to 16 at once; a WASIp2 instance
//! serves one request and is dropped. So an instance keeps its validated settings and what its
//! store needs (`redis.rs`: the connection and the waiting `/count`s; `kv.rs`: the bucket), and
//! later requests use them.

use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};

use crate::error::Failure;
use crate::kept::Kept;
use crate::kv::{KvPort, KvStore};
use crate::redis::{RedisPort, RedisStore};
use crate::reply::Reply;
use crate::routes::{self, Endpoint, Route};
use crate::settings::{Settings, Store, Variables};

/// The welcome body of `GET /`.
pub const WELCOME: &str = "Welcome! Go to /count to increment the visit counter.";

/// What an edition's runtime gives the shared logic besides Spin's interfaces: a clock, timers,
/// tasks and the log.
#[allow(async_fn_in_trait)] // a component instance is single-threaded: nothing here needs Send
pub trait Runtime {
    /// Waits before a retry.
    async fn pause(&self, wait: Duration);
    /// Finishes once `limit` has passed, without holding up the instance's other requests, so
    /// a Redis call can be raced against it; never finishes in an edition whose Redis calls
    /// block the instance until they return (nothing could interrupt them).
    async fn time_limit(&self, limit: Duration);
    /// The monotonic clock.
    fn now(&self) -> Instant;
    /// Runs `task` as a task of the instance, beside the request that starts it, so that it
    /// goes on if that request's future is dropped. An edition whose instance serves a single
    /// request runs it in place: there, the request's end is the instance's end.
    async fn spawn(&self, task: impl Future<Output = ()> + 'static);
    /// Writes one line to the log: stderr, which Spin keeps.
    fn log(&self, line: fmt::Arguments<'_>) {
        eprintln!("{line}");
    }
}

/// Everything an edition implements with its SDK: Spin's variables, one port per store, and
/// the runtime.
pub trait Host: Variables + Runtime + RedisPort + KvPort {}

impl<H: Variables + Runtime + RedisPort + KvPort> Host for H {}

/// One component instance's state, shared by every request it serves.
pub struct Instance<H: Host> {
    pub(crate) host: H,
    settings: Kept<Settings>,
    pub(crate) redis: RedisStore<H::Connection>,
    pub(crate) kv: KvStore<H::Bucket>,
}

impl<H: Host + 'static> Instance<H> {
    pub fn new(host: H) -> Rc<Self> {
        Rc::new(Instance {
            host,
            settings: Kept::default(),
            redis: RedisStore::default(),
            kv: KvStore::default(),
        })
    }

    /// Serves one request. Every outcome is a plain-text reply; 5xx ones are also logged
    /// ([`Runtime::log`]), and no reply or log line ever holds the Redis password.
    pub async fn respond(self: &Rc<Self>, method: &Method, path: &str) -> Reply {
        let reply = self.serve(routes::route(method, path)).await;
        if reply.status.is_server_error() {
            // The status as a number: its reason phrase would link http's table, 2 KB.
            self.host.log(format_args!(
                "{method} {path} -> {}: {}",
                reply.status.as_u16(),
                reply.body
            ));
        }
        reply
    }

    /// The reply to a routed request; settings are read only by the endpoints that need them.
    async fn serve(self: &Rc<Self>, route: Route) -> Reply {
        let outcome = match route {
            Route::NotFound => return Reply::plain(StatusCode::NOT_FOUND, "Not found".into()),
            Route::MethodNotAllowed { allow } => {
                return Reply::plain(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed".into())
                    .with_header("allow", allow);
            }
            Route::Serve(Endpoint::Welcome) => Ok(WELCOME.to_string()),
            Route::Serve(Endpoint::Health) => Ok("ok".to_string()),
            Route::Serve(Endpoint::Count) => {
                (self.count().await).map(|n| format!("Visit count: {n}"))
            }
            Route::Serve(Endpoint::Ready) => (self.ready().await).map(|()| "ready".to_string()),
        };
        match outcome {
            Ok(body) => Reply::plain(StatusCode::OK, body),
            Err(failure) => Reply::failure(&failure),
        }
    }

    /// The settings, read from Spin's variables by the first request that needs them. Only
    /// valid settings are kept: a variable that could not be read is read again next time.
    async fn settings(&self) -> Result<Rc<Settings>, Failure> {
        match self.settings.get() {
            Some(settings) => Ok(settings),
            None => Ok(self.settings.keep(Settings::read(&self.host).await?)),
        }
    }

    /// Counts one visit. On Redis the request takes a seat in the next batch and waits for its
    /// number; the first to find no sender starts one, as a task of the instance.
    async fn count(self: &Rc<Self>) -> Result<i64, Failure> {
        let settings = self.settings().await?;
        match &settings.store {
            Store::Redis(target) => {
                let (seat, start_sender) = self.redis.join(self.host.now());
                if start_sender {
                    let (instance, target) = (Rc::clone(self), Rc::clone(target));
                    let settings = Rc::clone(&settings);
                    let sender = async move {
                        let (host, key) = (&instance.host, &settings.key);
                        instance.redis.send_batches(host, &target, key).await
                    };
                    self.host.spawn(sender).await;
                }
                seat.outcome().await
            }
            Store::KeyValue => self.kv.increment(&self.host, &settings.key).await,
        }
    }

    async fn ready(&self) -> Result<(), Failure> {
        let settings = self.settings().await?;
        match &settings.store {
            Store::Redis(target) => self.redis.ready(&self.host, target, &settings.key).await,
            Store::KeyValue => self.kv.ready(&self.host, &settings.key).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_host::*;
    use crate::reply::TEXT_PLAIN;
    use crate::test_support::{hostile_text, join_all};
    use proptest::prelude::*;

    #[test]
    fn welcome_and_health_need_no_settings_or_store() {
        let instance = Instance::new(FakeHost::with(&[]));
        assert_plain(&get(&instance, "/"), StatusCode::OK, WELCOME);
        let reply = call(&instance, Method::HEAD, "/healthz");
        assert_plain(&reply, StatusCode::OK, "ok");
        assert_eq!(instance.host.variable_reads.get(), 0);
        assert_eq!(instance.host.opens.get(), 0);
    }

    #[test]
    fn count_increments_once_and_reports() {
        let instance = Instance::new(FakeHost::with(&[]));
        let reply = get(&instance, "/count?from=test");
        assert_plain(&reply, StatusCode::OK, "Visit count: 1");
        assert_eq!(*instance.host.applied.borrow(), [1]);
    }

    #[test]
    fn an_instance_reads_settings_and_opens_the_store_once() {
        for host in [FakeHost::with(&[]), FakeHost::kv()] {
            let reads_per_settings = if host.variables["counter_store"] == "kv" {
                2
            } else {
                8
            };
            let instance = Instance::new(host);
            for n in 1..=3 {
                let reply = get(&instance, "/count");
                assert_plain(&reply, StatusCode::OK, &format!("Visit count: {n}"));
            }
            assert_plain(&get(&instance, "/readyz"), StatusCode::OK, "ready");
            assert_eq!(instance.host.variable_reads.get(), reads_per_settings);
            assert_eq!(instance.host.opens.get(), 1);
            assert_eq!(*instance.host.applied.borrow(), [1, 1, 1]);
        }
    }

    /// A method as `http` lets one be: the standard ones, the same letters in another case
    /// (another method to HTTP), and any other token.
    fn any_method() -> impl Strategy<Value = Method> {
        let standard = [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
            Method::PATCH,
            Method::TRACE,
            Method::CONNECT,
        ];
        let token = "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,24}|get|Get|head|HEAD ";
        prop_oneof![
            proptest::sample::select(standard.to_vec()),
            token.prop_filter_map("not a token", |m| Method::from_bytes(m.as_bytes()).ok()),
        ]
    }

    /// A path and query: each endpoint with hostile tails, and hostile text of any length.
    fn any_path() -> impl Strategy<Value = String> {
        let endpoint = proptest::sample::select(vec!["/", "/count", "/healthz", "/readyz", ""]);
        let tail = prop_oneof![Just(String::new()), "[?/#%.]".prop_map(String::from)];
        prop_oneof![
            2 => (endpoint, tail, hostile_text()).prop_map(|(e, t, rest)| format!("{e}{t}{rest}")),
            1 => hostile_text(),
            1 => hostile_text().prop_map(|text| format!("/{text}")),
        ]
    }

    /// The `Allow` header of each endpoint's path, as the routing tests have them.
    fn allow_of(path: &str) -> Option<&'static str> {
        match path {
            "/count" => Some("GET"),
            "/" | "/healthz" | "/readyz" => Some("GET, HEAD"),
            _ => None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_request_is_200_404_or_405_with_allow_exactly_on_405(
            method in any_method(),
            path_and_query in any_path(),
        ) {
            let instance = Instance::new(FakeHost::with(&[]));
            let reply = call(&instance, method.clone(), &path_and_query);
            let path = path_and_query.split_once('?').map_or(&*path_and_query, |(path, _)| path);
            let expected = match allow_of(path) {
                None => (StatusCode::NOT_FOUND, "Not found".to_string(), None),
                Some(allow) if method == Method::GET
                    || (method == Method::HEAD && allow.contains("HEAD")) =>
                {
                    let body = match path {
                        "/" => WELCOME,
                        "/count" => "Visit count: 1",
                        "/healthz" => "ok",
                        _ => "ready",
                    };
                    (StatusCode::OK, body.to_string(), None)
                }
                Some(allow) => {
                    let body = "Method not allowed".to_string();
                    (StatusCode::METHOD_NOT_ALLOWED, body, Some(allow))
                }
            };
            prop_assert_eq!((reply.status, reply.body.clone(), header(&reply, "allow")), expected);
            prop_assert_eq!(header(&reply, "content-type"), Some(TEXT_PLAIN));
            assert_exact_content_length(&reply);
            prop_assert_eq!(instance.host.logged.borrow().len(), 0, "only 5xx are logged");
        }
    }

    #[test]
    fn head_count_is_405_and_does_not_increment() {
        let instance = Instance::new(FakeHost::with(&[]));
        let reply = call(&instance, Method::HEAD, "/count");
        assert_plain(&reply, StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
        assert_eq!(header(&reply, "allow"), Some("GET"));
        assert!(instance.host.applied.borrow().is_empty());
    }

    #[test]
    fn unknown_path_is_404() {
        let instance = Instance::new(FakeHost::with(&[]));
        assert_plain(
            &get(&instance, "/count/"),
            StatusCode::NOT_FOUND,
            "Not found",
        );
    }

    #[test]
    fn invalid_settings_are_500_never_reach_the_store_and_are_read_again() {
        let instance = Instance::new(FakeHost::with(&[("redis_port", "abc")]));
        for _ in 0..2 {
            let reply = get(&instance, "/count");
            assert_plain(
                &reply,
                StatusCode::INTERNAL_SERVER_ERROR,
                "invalid setting redis_port: \"abc\" is not a port number (1-65535)",
            );
            assert_eq!(header(&reply, "retry-after"), None);
        }
        assert_eq!(instance.host.opens.get(), 0);
        assert_eq!(instance.host.variable_reads.get(), 8, "4 reads, twice");
    }

    #[test]
    fn concurrent_requests_count_exactly_and_end_up_sharing_one_connection() {
        for host in [FakeHost::with(&[]), FakeHost::kv()] {
            let instance = Instance::new(host);
            let requests = (0..16).map(|_| instance.respond(&Method::GET, "/count"));
            let mut counts: Vec<String> = join_all(&instance.host.tasks, requests.collect())
                .into_iter()
                .map(|reply| reply.body)
                .collect();
            counts.sort_by_key(|body| body.len());
            let expected: Vec<String> = (1..=16).map(|n| format!("Visit count: {n}")).collect();
            assert_eq!(counts, expected);

            let opened = instance.host.opens.get();
            let kept = instance.redis.kept().or(instance.kv.kept());
            assert_eq!(kept, Some(1), "the first one opened is kept");
            assert_eq!(get(&instance, "/count").body, "Visit count: 17");
            assert_eq!(
                instance.host.opens.get(),
                opened,
                "later requests open nothing"
            );
            assert_eq!(instance.host.applied.borrow().last(), Some(&1));
        }
    }
}
