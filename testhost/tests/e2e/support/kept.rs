//! One kept-alive HTTP/1.1 connection, spoken by hand over a `TcpStream`: every request goes on
//! the same socket (a pooled client may open another), and every reply is read whole, framed by
//! its `content-length` or by chunks, so a reply that arrives in two pieces is timed as the client
//! sees it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::http::{Method, Reply};

pub struct KeptConnection {
    reader: BufReader<TcpStream>,
    port: u16,
}

impl KeptConnection {
    pub fn open(port: u16) -> KeptConnection {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the app");
        // No reply may take this long; a stalled one fails the read instead of hanging.
        (stream.set_read_timeout(Some(Duration::from_secs(10))))
            .expect("set a read timeout on the connection");
        KeptConnection {
            reader: BufReader::new(stream),
            port,
        }
    }

    /// Sends `method path` on this connection and reads the whole reply.
    #[track_caller]
    pub fn send(&mut self, method: Method, path: &str) -> Reply {
        let verb = match method {
            Method::Get => "GET",
            Method::Head => "HEAD",
            other => panic!("the kept connection sends GET and HEAD only, not {other:?}"),
        };
        let request = format!(
            "{verb} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: */*\r\n\r\n",
            self.port
        );
        let start = Instant::now();
        (self.reader.get_mut().write_all(request.as_bytes()))
            .unwrap_or_else(|e| panic!("{verb} {path}: cannot send on the kept connection: {e}"));
        let (status, headers) = self.head(verb, path);
        let header = |name: &str| {
            (headers.iter())
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let body = if method == Method::Head {
            Vec::new()
        } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            self.chunked(verb, path)
        } else {
            let length = header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| {
                    panic!("{verb} {path}: neither chunked nor a length: {headers:?}")
                });
            let mut body = vec![0; length];
            (self.reader.read_exact(&mut body))
                .unwrap_or_else(|e| panic!("{verb} {path}: body cut short: {e}"));
            body
        };
        Reply {
            status,
            headers,
            body: String::from_utf8(body).expect("a UTF-8 body"),
            elapsed: start.elapsed(),
        }
    }

    fn line(&mut self, verb: &str, path: &str) -> String {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => panic!("{verb} {path}: the app closed the kept connection"),
            Ok(_) => line.trim_end_matches(['\r', '\n']).to_string(),
            Err(e) => panic!("{verb} {path}: no reply on the kept connection: {e}"),
        }
    }

    fn head(&mut self, verb: &str, path: &str) -> (u16, Vec<(String, String)>) {
        let status_line = self.line(verb, path);
        let status = (status_line.strip_prefix("HTTP/1.1 "))
            .and_then(|rest| rest.get(..3)?.parse().ok())
            .unwrap_or_else(|| {
                panic!("{verb} {path}: not an HTTP/1.1 status line: {status_line:?}")
            });
        let mut headers = Vec::new();
        loop {
            let line = self.line(verb, path);
            if line.is_empty() {
                return (status, headers);
            }
            let (name, value) = (line.split_once(':'))
                .unwrap_or_else(|| panic!("{verb} {path}: not a header line: {line:?}"));
            headers.push((name.to_string(), value.trim().to_string()));
        }
    }

    fn chunked(&mut self, verb: &str, path: &str) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let size = self.line(verb, path);
            let size = usize::from_str_radix(size.split(';').next().unwrap_or_default(), 16)
                .unwrap_or_else(|_| panic!("{verb} {path}: not a chunk size: {size:?}"));
            let mut chunk = vec![0; size + 2];
            (self.reader.read_exact(&mut chunk))
                .unwrap_or_else(|e| panic!("{verb} {path}: chunk cut short: {e}"));
            body.extend_from_slice(&chunk[..size]);
            if size == 0 {
                return body;
            }
        }
    }
}
