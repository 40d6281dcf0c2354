//! A client for apps served over HTTPS (`--tls-cert`/`--tls-key`): one request per connection,
//! the server's certificate checked against the test's own CA only, every wait bounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use native_tls::{Certificate, TlsConnector};

use super::http::Reply;

/// How long a connection, a handshake or an answer may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A connector that trusts only the CA in `ca` (PEM).
pub fn connector(ca: &Path) -> TlsConnector {
    let pem = std::fs::read(ca).expect("read the CA certificate");
    TlsConnector::builder()
        .add_root_certificate(Certificate::from_pem(&pem).expect("a PEM CA certificate"))
        .disable_built_in_roots(true)
        .build()
        .expect("a TLS connector")
}

/// A TCP connection to 127.0.0.1:`port` whose reads and writes give up after [`TIMEOUT`].
pub fn connect(port: u16) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    Ok(stream)
}

/// `GET path` over TLS to 127.0.0.1:`port`, the certificate checked for `host`: the reply, or
/// why the handshake or the exchange failed.
pub fn get(connector: &TlsConnector, port: u16, host: &str, path: &str) -> Result<Reply, String> {
    let start = Instant::now();
    let tcp = connect(port).map_err(|e| format!("connect: {e}"))?;
    let mut stream = connector
        .connect(host, tcp)
        .map_err(|e| format!("TLS handshake: {e}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read: {e}"))?;
    let mut reply = parse(&raw)?;
    reply.elapsed = start.elapsed();
    Ok(reply)
}

/// An HTTP/1.1 response read to its end: status, headers and a `content-length` body.
fn parse(raw: &[u8]) -> Result<Reply, String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("not an HTTP response: {text:?}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP/1.1 status line: {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .ok_or_else(|| format!("no content-length in {head:?}"))?;
    if body.len() != length {
        return Err(format!("content-length {length}, body {body:?}"));
    }
    Ok(Reply {
        status,
        headers,
        body: body.to_string(),
        elapsed: Duration::ZERO,
    })
}
