//! Requests written byte for byte on a fresh `TcpStream`, for what no well-behaved client sends
//! (control bytes in the request line, a head cut off, an unknown method), and what came back: a
//! reply, a close without one, or nothing within a bound. Every read and write has a timeout, so
//! no answer (or lack of one) can hang a test.

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// What the server did with one request.
#[derive(Debug)]
pub enum Answer {
    /// A reply, read to the server's close: status, headers, body (de-chunked).
    Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        elapsed: Duration,
    },
    /// The connection ended without a byte of reply: `closed` (FIN) or the reset's text.
    Closed(String),
    /// Nothing came back within the bound and the connection is still open.
    Silent(Duration),
}

impl Answer {
    pub fn status(&self) -> Option<u16> {
        match self {
            Answer::Reply { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn body(&self) -> &str {
        match self {
            Answer::Reply { body, .. } => std::str::from_utf8(body).unwrap_or("<not UTF-8>"),
            _ => "",
        }
    }

    /// The value of a header (case-insensitive), if the reply has it.
    pub fn header(&self, name: &str) -> Option<&str> {
        match self {
            Answer::Reply { headers, .. } => (headers.iter())
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str()),
            _ => None,
        }
    }
}

/// One short cell of a report table: `405 "Method not allowed" allow=GET`, `closed`, ...
impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Reply { status, .. } => {
                write!(f, "{status}")?;
                let body = self.body();
                if body.is_empty() {
                    f.write_str(" (no body)")?;
                } else if body.len() <= 60 {
                    write!(f, " {body:?}")?;
                } else {
                    write!(f, " ({} bytes)", body.len())?;
                }
                if let Some(allow) = self.header("allow") {
                    write!(f, " allow={allow}")?;
                }
                Ok(())
            }
            Answer::Closed(how) => write!(f, "{how} without a reply"),
            Answer::Silent(bound) => write!(f, "open, no reply within {bound:?}"),
        }
    }
}

/// Sends `request` (which should ask for `Connection: close`) on a new connection and reads
/// until the server closes it, for at most `bound`.
pub fn exchange(port: u16, request: &[u8], bound: Duration) -> Answer {
    let start = Instant::now();
    let mut stream = connect(port, bound);
    // A server may answer and close before it has read everything (a 414 on a long head): what
    // it sent is still there to read, so a failed write is not the answer.
    let _ = stream.write_all(request);
    read_answer(&mut stream, start, bound)
}

/// Sends the first bytes of a request, then closes the sending side: what does the server do
/// with a head that ends mid-way?
pub fn cut_off(port: u16, partial: &[u8], bound: Duration) -> Answer {
    let start = Instant::now();
    let mut stream = connect(port, bound);
    let _ = stream.write_all(partial);
    let _ = stream.shutdown(Shutdown::Write);
    read_answer(&mut stream, start, bound)
}

/// A connection left open after `sent` (nothing, or part of a head), to be checked later.
pub struct Pending {
    stream: TcpStream,
    since: Instant,
}

impl Pending {
    pub fn open(port: u16, sent: &[u8]) -> Pending {
        let mut stream = connect(port, Duration::from_secs(10));
        stream
            .write_all(sent)
            .expect("send the first bytes on a pending connection");
        Pending {
            stream,
            since: Instant::now(),
        }
    }

    /// Has the server answered or closed it since it was opened? Waits at most `wait`.
    pub fn state(&mut self, wait: Duration) -> Answer {
        match read_answer(&mut self.stream, Instant::now(), wait) {
            Answer::Silent(_) => Answer::Silent(self.since.elapsed()),
            answer => answer,
        }
    }
}

fn connect(port: u16, bound: Duration) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the app");
    (stream.set_read_timeout(Some(bound))).expect("set a read timeout");
    (stream.set_write_timeout(Some(bound))).expect("set a write timeout");
    stream
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Reads until the server closes (or `bound` from `start` runs out), then parses what came.
fn read_answer(stream: &mut TcpStream, start: Instant, bound: Duration) -> Answer {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut ended = None;
    while start.elapsed() < bound {
        let left = bound
            .saturating_sub(start.elapsed())
            .max(Duration::from_millis(1));
        (stream.set_read_timeout(Some(left))).expect("set a read timeout");
        match stream.read(&mut buf) {
            Ok(0) => {
                ended = Some("closed".to_string());
                break;
            }
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if is_timeout(&e) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                ended = Some(format!("reset ({})", e.kind()));
                break;
            }
        }
    }
    let elapsed = start.elapsed();
    if bytes.is_empty() {
        return match ended {
            Some(how) => Answer::Closed(how),
            None => Answer::Silent(elapsed),
        };
    }
    parse(&bytes, elapsed)
}

/// `HTTP/1.1 NNN ...`, headers, and the body as framed by chunks or taken whole.
fn parse(bytes: &[u8], elapsed: Duration) -> Answer {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        panic!(
            "not an HTTP reply (no end of head): {:?}",
            String::from_utf8_lossy(bytes)
        );
    };
    let head = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = (status_line.strip_prefix("HTTP/1.1 "))
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3)?.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP status line: {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.to_string(), v.trim().to_string()))
        .collect();
    let chunked = (headers.iter()).any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body_start = end + 4;
    let body = if chunked {
        dechunk(&bytes[body_start..])
    } else {
        bytes[body_start..].to_vec()
    };
    Answer::Reply {
        status,
        headers,
        body,
        elapsed,
    }
}

fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = bytes.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&bytes[..end]);
        let size = size.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size, 16) else {
            break;
        };
        let chunk = &bytes[end + 2..];
        if size == 0 || chunk.len() < size {
            body.extend_from_slice(&chunk[..size.min(chunk.len())]);
            break;
        }
        body.extend_from_slice(&chunk[..size]);
        bytes = chunk.get(size + 2..).unwrap_or_default();
    }
    body
}
