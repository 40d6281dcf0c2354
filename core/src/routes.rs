//! Method + path -> what to do. Pure, so every row of the routing table is unit-tested.

use http::Method;

/// The endpoints the component serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/`: the welcome text.
    Welcome,
    /// `/count`: increment and report the counter.
    Count,
    /// `/healthz`: liveness, touches nothing.
    Health,
    /// `/readyz`: readiness, checks the store.
    Ready,
}

/// The routing decision for one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    Serve(Endpoint),
    NotFound,
    /// A known path with a method it does not take; `allow` is the `Allow` header.
    MethodNotAllowed {
        allow: &'static str,
    },
}

/// Routes on the path alone: the query string is ignored and no trailing-slash variants exist.
pub fn route(method: &Method, path_and_query: &str) -> Route {
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(path, _)| path);
    const GET_HEAD: &str = "GET, HEAD";
    let (endpoint, allow) = match path {
        "/" => (Endpoint::Welcome, GET_HEAD),
        // HEAD must not increment, so /count takes GET alone.
        "/count" => (Endpoint::Count, "GET"),
        "/healthz" => (Endpoint::Health, GET_HEAD),
        "/readyz" => (Endpoint::Ready, GET_HEAD),
        _ => return Route::NotFound,
    };
    let allowed = *method == Method::GET || (*method == Method::HEAD && allow == GET_HEAD);
    if allowed {
        Route::Serve(endpoint)
    } else {
        Route::MethodNotAllowed { allow }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_serves_every_endpoint() {
        let table = [
            ("/", Endpoint::Welcome),
            ("/count", Endpoint::Count),
            ("/healthz", Endpoint::Health),
            ("/readyz", Endpoint::Ready),
        ];
        for (path, endpoint) in table {
            assert_eq!(route(&Method::GET, path), Route::Serve(endpoint), "{path}");
        }
    }

    #[test]
    fn head_is_served_except_on_count() {
        assert_eq!(route(&Method::HEAD, "/"), Route::Serve(Endpoint::Welcome));
        assert_eq!(
            route(&Method::HEAD, "/healthz"),
            Route::Serve(Endpoint::Health)
        );
        assert_eq!(
            route(&Method::HEAD, "/readyz"),
            Route::Serve(Endpoint::Ready)
        );
        assert_eq!(
            route(&Method::HEAD, "/count"),
            Route::MethodNotAllowed { allow: "GET" }
        );
    }

    #[test]
    fn other_methods_get_405_with_allow() {
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
            assert_eq!(
                route(&method, "/count"),
                Route::MethodNotAllowed { allow: "GET" }
            );
            for path in ["/", "/healthz", "/readyz"] {
                assert_eq!(
                    route(&method, path),
                    Route::MethodNotAllowed { allow: "GET, HEAD" },
                    "{method} {path}"
                );
            }
        }
    }

    #[test]
    fn query_strings_are_ignored() {
        assert_eq!(
            route(&Method::GET, "/count?x=1"),
            Route::Serve(Endpoint::Count)
        );
        assert_eq!(route(&Method::GET, "/?"), Route::Serve(Endpoint::Welcome));
    }

    #[test]
    fn unknown_paths_are_not_found_whatever_the_method() {
        for path in [
            "/count/",
            "/counter",
            "",
            "/COUNT",
            "//count",
            "/favicon.ico",
        ] {
            assert_eq!(route(&Method::GET, path), Route::NotFound, "{path}");
            assert_eq!(route(&Method::POST, path), Route::NotFound, "{path}");
        }
    }
}
