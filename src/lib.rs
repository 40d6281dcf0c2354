//! The visit counter's HTTP entry point: route the request, do the work, and turn every outcome,
//! good or bad, into a plain-text response. Nothing here panics on outside input: a trap would
//! become Spin's empty 500 instead of a message the user can act on.

mod counter;
mod error;
mod reply;
mod retry;
mod routes;
mod settings;

use http::{Method, StatusCode};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

use counter::{Counter, SpinStores};
use error::Failure;
use reply::Reply;
use routes::{Endpoint, Route};
use settings::{Lookup, Settings};

const WELCOME: &str = "Welcome! Go to /count to increment the visit counter.";

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    let method = Method::from(request.method());
    let path = request.path_with_query().unwrap_or_default();
    let lookup: Lookup<'_> = &|name| spin_sdk::variables::get(name).map_err(|e| e.to_string());
    let reply = respond(routes::route(&method, &path), lookup, &SpinStores).await;
    if reply.status.is_server_error() {
        eprintln!("{method} {path} -> {}: {}", reply.status, reply.body);
    }
    reply.send(response_out).await;
}

/// The reply to a routed request; settings are read only by the endpoints that need them.
async fn respond(route: Route, lookup: Lookup<'_>, counter: &impl Counter) -> Reply {
    let outcome = match route {
        Route::NotFound => return Reply::plain(StatusCode::NOT_FOUND, "Not found".into()),
        Route::MethodNotAllowed { allow } => {
            return Reply::plain(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed".into())
                .with_header("allow", allow);
        }
        Route::Serve(Endpoint::Welcome) => Ok(WELCOME.to_string()),
        Route::Serve(Endpoint::Health) => Ok("ok".to_string()),
        Route::Serve(Endpoint::Count) => match Settings::from_lookup(lookup) {
            Ok(settings) => counter.incr(&settings).await,
            Err(failure) => Err(failure),
        }
        .map(|count| format!("Visit count: {count}")),
        Route::Serve(Endpoint::Ready) => match Settings::from_lookup(lookup) {
            Ok(settings) => counter.ping(&settings).await,
            Err(failure) => Err(failure),
        }
        .map(|()| "ready".to_string()),
    };
    match outcome {
        Ok(body) => Reply::plain(StatusCode::OK, body),
        Err(failure) => failure_reply(&failure),
    }
}

fn failure_reply(failure: &Failure) -> Reply {
    let reply = Reply::plain(failure.status(), failure.to_string());
    match failure.retry_after() {
        Some(seconds) => reply.with_header("retry-after", seconds),
        None => reply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::TEXT_PLAIN;
    use crate::retry::tests::block_on;
    use std::cell::{Cell, RefCell};

    /// A counter that answers with what the test scripted and counts how often it was asked.
    struct FakeCounter {
        next: RefCell<Result<i64, Failure>>,
        calls: Cell<u32>,
    }

    impl FakeCounter {
        fn answering(next: Result<i64, Failure>) -> Self {
            FakeCounter {
                next: RefCell::new(next),
                calls: Cell::new(0),
            }
        }

        fn take(&self) -> Result<i64, Failure> {
            self.calls.set(self.calls.get() + 1);
            self.next.replace(Ok(0))
        }
    }

    impl Counter for FakeCounter {
        async fn incr(&self, _: &Settings) -> Result<i64, Failure> {
            self.take()
        }

        async fn ping(&self, _: &Settings) -> Result<(), Failure> {
            self.take().map(drop)
        }
    }

    fn defaults(name: &'static str) -> Result<String, String> {
        Ok(match name {
            "counter_store" => "redis",
            "redis_host" => "127.0.0.1",
            "redis_port" => "6379",
            "redis_key" => "visits",
            "redis_tls" => "false",
            _ => "",
        }
        .to_string())
    }

    fn no_variables(name: &'static str) -> Result<String, String> {
        panic!("{name} was read but this endpoint needs no settings")
    }

    fn call(method: Method, path: &str, lookup: Lookup<'_>, counter: &FakeCounter) -> Reply {
        block_on(respond(routes::route(&method, path), lookup, counter))
    }

    fn header<'r>(reply: &'r Reply, name: &str) -> Option<&'r str> {
        let mut values = reply.headers.iter().filter(|(n, _)| *n == name);
        let value = values.next().map(|&(_, value)| value);
        assert!(values.next().is_none(), "{name} is sent twice");
        value
    }

    fn assert_plain(reply: &Reply, status: StatusCode, body: &str) {
        assert_eq!(reply.status, status);
        assert_eq!(reply.body, body);
        assert_eq!(header(reply, "content-type"), Some(TEXT_PLAIN));
    }

    #[test]
    fn welcome_and_health_need_no_settings_or_store() {
        let counter = FakeCounter::answering(Ok(1));
        let response = call(Method::GET, "/", &no_variables, &counter);
        assert_plain(&response, StatusCode::OK, WELCOME);
        let response = call(Method::HEAD, "/healthz", &no_variables, &counter);
        assert_plain(&response, StatusCode::OK, "ok");
        assert_eq!(counter.calls.get(), 0);
    }

    #[test]
    fn count_increments_once_and_reports() {
        let counter = FakeCounter::answering(Ok(42));
        let response = call(Method::GET, "/count?from=test", &defaults, &counter);
        assert_plain(&response, StatusCode::OK, "Visit count: 42");
        assert_eq!(counter.calls.get(), 1);
    }

    #[test]
    fn head_count_is_405_and_does_not_increment() {
        let counter = FakeCounter::answering(Ok(1));
        let response = call(Method::HEAD, "/count", &no_variables, &counter);
        assert_plain(
            &response,
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
        );
        assert_eq!(header(&response, "allow"), Some("GET"));
        assert_eq!(counter.calls.get(), 0);
    }

    #[test]
    fn unknown_path_is_404() {
        let counter = FakeCounter::answering(Ok(1));
        let response = call(Method::GET, "/count/", &no_variables, &counter);
        assert_plain(&response, StatusCode::NOT_FOUND, "Not found");
    }

    #[test]
    fn ready_pings_the_store() {
        let counter = FakeCounter::answering(Ok(0));
        let response = call(Method::GET, "/readyz", &defaults, &counter);
        assert_plain(&response, StatusCode::OK, "ready");
        assert_eq!(counter.calls.get(), 1);
    }

    #[test]
    fn unavailable_store_is_503_with_retry_after() {
        let failure = Failure::Unavailable {
            store: "Redis at 127.0.0.1:6379".into(),
            cause: "Connection refused (os error 111)".into(),
        };
        for path in ["/count", "/readyz"] {
            let counter = FakeCounter::answering(Err(failure.clone()));
            let response = call(Method::GET, path, &defaults, &counter);
            assert_plain(
                &response,
                StatusCode::SERVICE_UNAVAILABLE,
                "Redis at 127.0.0.1:6379 is unavailable: Connection refused (os error 111)",
            );
            assert_eq!(header(&response, "retry-after"), Some("1"));
        }
    }

    #[test]
    fn invalid_settings_are_500_and_never_reach_the_store() {
        let counter = FakeCounter::answering(Ok(1));
        let bad_port = |name: &'static str| match name {
            "redis_port" => Ok("abc".to_string()),
            other => defaults(other),
        };
        let response = call(Method::GET, "/count", &bad_port, &counter);
        assert_plain(
            &response,
            StatusCode::INTERNAL_SERVER_ERROR,
            "invalid setting redis_port: \"abc\" is not a port number (1-65535)",
        );
        assert_eq!(header(&response, "retry-after"), None);
        assert_eq!(counter.calls.get(), 0);
    }

    #[test]
    fn store_errors_keep_their_specific_message() {
        let counter = FakeCounter::answering(Err(Failure::NotAnInteger {
            key: "visits".into(),
        }));
        let response = call(Method::GET, "/count", &defaults, &counter);
        assert_plain(
            &response,
            StatusCode::INTERNAL_SERVER_ERROR,
            "key 'visits' does not hold an integer; fix or delete it in Redis",
        );
    }
}
