//! The HTTP front end: accepts connections and serves HTTP/1.1 on them with hyper, as Spin does
//! (Nagle's algorithm left on), routes each request like Spin's router and hands it to the
//! component; failures become Spin's bodiless 500 and unmatched paths its bodiless 404.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Result;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::handler::ResponseBody;
use crate::manifest::{Manifest, RoutePattern};
use crate::runtime::ComponentRuntime;

/// What the server needs: the routes and a runtime per component.
pub struct App {
    pub manifest: Manifest,
    pub components: HashMap<String, ComponentRuntime>,
}

/// Accepts connections forever, one task per connection.
pub async fn serve(app: Arc<App>, listener: TcpListener) -> Result<()> {
    loop {
        let (stream, client) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Running out of file descriptors under load must not stop the server.
            Err(err) => {
                eprintln!("spin-test-host: accept failed: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        // Nagle's algorithm stays on, as in Spin's server (which never sets TCP_NODELAY): a reply
        // sent in two writes then waits for the client's delayed ACK here as it does there.
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, std::convert::Infallible>(app.handle(req, client).await) }
            });
            // Errors here are the client's (reset, bad request); nothing to report.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn empty(status: StatusCode) -> Response<ResponseBody> {
    let body = Empty::new().map_err(|never| match never {}).boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

impl App {
    async fn handle(
        &self,
        mut req: hyper::Request<Incoming>,
        client: SocketAddr,
    ) -> Response<ResponseBody> {
        let path = req.uri().path().to_string();
        let Some(trigger) = self.manifest.route(&path) else {
            return empty(StatusCode::NOT_FOUND);
        };
        let Some(component) = self.components.get(&trigger.component) else {
            return empty(StatusCode::INTERNAL_SERVER_ERROR);
        };
        if let Err(err) = add_spin_headers(&mut req, &trigger.route, &path, client) {
            eprintln!("Error processing request: {err:#}");
            return empty(StatusCode::INTERNAL_SERVER_ERROR);
        }
        match component.handle(req).await {
            Ok(response) => response,
            Err(err) => {
                eprintln!("Error processing request: {err:#}");
                empty(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

/// The `spin-*` headers Spin adds to every request it passes to a component, and the
/// absolute URI (from the Host header) it gives it.
fn add_spin_headers(
    req: &mut hyper::Request<Incoming>,
    route: &RoutePattern,
    path: &str,
    client: SocketAddr,
) -> Result<()> {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or(path)
        .to_string();
    let (raw_route, path_info, base) = match route {
        RoutePattern::Exact(r) => (r.clone(), String::new(), r.clone()),
        RoutePattern::Prefix(p) => (format!("{p}/..."), path[p.len()..].to_string(), p.clone()),
    };
    let full_url = format!("http://{host}{path_and_query}");
    *req.uri_mut() = full_url.parse()?;
    let headers = req.headers_mut();
    let mut set = |name: &'static str, value: &str| -> Result<()> {
        headers.insert(name, HeaderValue::from_str(value)?);
        Ok(())
    };
    set("spin-full-url", &full_url)?;
    set("spin-path-info", &path_info)?;
    set("spin-matched-route", &raw_route)?;
    set("spin-base-path", "/")?;
    set("spin-raw-component-route", &raw_route)?;
    set("spin-component-route", &base)?;
    set("spin-client-addr", &client.to_string())?;
    Ok(())
}
