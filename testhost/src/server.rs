//! The HTTP front end: accepts connections (over TLS with `--tls-cert`/`--tls-key`) and serves
//! HTTP/1.1 on them with hyper, as Spin does (Nagle's algorithm left on), and hands every request
//! to the component, as Spin's router does for a `/...` route; failures become Spin's bodiless
//! 500.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_native_tls::TlsAcceptor;

use crate::cli::Tls;
use crate::handler::ResponseBody;
use crate::runtime::ComponentRuntime;

/// The TLS acceptor for `--tls-cert`/`--tls-key`, with Spin's words when a file does not load.
pub fn tls_acceptor(tls: &Tls) -> Result<TlsAcceptor> {
    let read = |path: &Path, what: &str| {
        std::fs::read(path)
            .with_context(|| format!("failed to load {what} from '{}'", path.display()))
    };
    let cert = read(&tls.cert, "certificate(s)")?;
    let key = read(&tls.key, "private key")?;
    let identity = native_tls::Identity::from_pkcs8(&cert, &key).with_context(|| {
        format!(
            "failed to load certificate(s) from '{}' and private key from '{}'",
            tls.cert.display(),
            tls.key.display()
        )
    })?;
    let acceptor = native_tls::TlsAcceptor::new(identity).context("invalid TLS configuration")?;
    Ok(acceptor.into())
}

/// Accepts connections forever, one task per connection.
pub async fn serve(
    app: Arc<ComponentRuntime>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
) -> Result<()> {
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
        let Some(tls) = &tls else {
            tokio::spawn(serve_connection(app.clone(), stream, client, Scheme::HTTP));
            continue;
        };
        // Spin completes each TLS handshake in its accept loop, before it accepts the next
        // connection, so a client that never finishes its handshake holds the listener; so here.
        match tls.accept(stream).await {
            Ok(stream) => {
                tokio::spawn(serve_connection(app.clone(), stream, client, Scheme::HTTPS));
            }
            Err(err) => eprintln!("Failed to start TLS session: {err}"),
        }
    }
}

async fn serve_connection<S>(
    app: Arc<ComponentRuntime>,
    stream: S,
    client: SocketAddr,
    scheme: Scheme,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let app = app.clone();
        let scheme = scheme.clone();
        async move { handle(&app, req, client, scheme).await }
    });
    // Errors here are the client's (reset, bad request); nothing to report.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

fn empty(status: StatusCode) -> Response<ResponseBody> {
    let body = Empty::new().map_err(|never| match never {}).boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

/// `Err` drops the connection without a reply, as Spin's server does when it cannot make the
/// request's absolute URI (see [`absolute_uri`]).
async fn handle(
    component: &ComponentRuntime,
    mut req: hyper::Request<Incoming>,
    client: SocketAddr,
    scheme: Scheme,
) -> Result<Response<ResponseBody>> {
    *req.uri_mut() = absolute_uri(&req, scheme)?;
    if let Err(err) = add_spin_headers(&mut req, client) {
        eprintln!("Error processing request: {err:#}");
        return Ok(empty(StatusCode::INTERNAL_SERVER_ERROR));
    }
    match component.handle(req).await {
        Ok(response) => Ok(response),
        Err(err) => {
            eprintln!("Error processing request: {err:#}");
            Ok(empty(StatusCode::INTERNAL_SERVER_ERROR))
        }
    }
}

/// The URI the component sees, made as Spin's `set_req_uri` makes it: from the parts hyper
/// parsed (not re-parsed, so a target near hyper's 65,534-byte limit still fits), the authority
/// from `Host` or the target, which must agree. Where Spin fails (no or a bad `Host`, two
/// authorities, CONNECT's bare `host:port`, on which it panics) its connection ends unanswered.
fn absolute_uri(req: &hyper::Request<Incoming>, scheme: Scheme) -> Result<Uri> {
    let from_header = (req.headers().get(http::header::HOST))
        .map(|h| -> Result<Authority> {
            let host = h.to_str().context("'Host' header is not valid UTF-8")?;
            host.parse()
                .context("'Host' header contains an invalid authority")
        })
        .transpose()?;
    let mut parts = req.uri().clone().into_parts();
    let authority = match (from_header, parts.authority.take()) {
        (None, None) => bail!("no 'Host' header present in request"),
        (Some(a), None) | (None, Some(a)) => a,
        (Some(a1), Some(a2)) if a1 != a2 => {
            bail!("authority in 'Host' header does not match authority in URI")
        }
        (Some(a), Some(_)) => a,
    };
    parts.scheme = Some(scheme);
    parts.authority = Some(authority);
    Ok(Uri::from_parts(parts)?)
}

/// The `spin-*` headers Spin adds to every request it passes to a component routed on `/...`.
fn add_spin_headers(req: &mut hyper::Request<Incoming>, client: SocketAddr) -> Result<()> {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    let path = req.uri().path().to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or(path.as_str(), |p| p.as_str())
        .to_string();
    let scheme = req.uri().scheme_str().unwrap_or("http");
    let full_url = format!("{scheme}://{host}{path_and_query}");
    // Spin hands every header to the component as a string and answers its own 500 when a value
    // is not UTF-8 (obs-text, which HTTP allows), before the component runs.
    for value in req.headers().values() {
        std::str::from_utf8(value.as_bytes())?;
    }
    let headers = req.headers_mut();
    let mut set = |name: &'static str, value: &str| -> Result<()> {
        headers.insert(name, HeaderValue::from_str(value)?);
        Ok(())
    };
    set("spin-full-url", &full_url)?;
    set("spin-path-info", &path)?;
    set("spin-matched-route", "/...")?;
    set("spin-base-path", "/")?;
    set("spin-raw-component-route", "/...")?;
    set("spin-component-route", "")?;
    set("spin-client-addr", &client.to_string())?;
    Ok(())
}
