//! The component's answer, as both editions hand it to Spin.
//!
//! A plain struct rather than `http::Response`: the editions build Spin's response from it
//! directly, which keeps `http::HeaderMap` and the SDKs' response conversions (and the error
//! machinery they link) out of the `.wasm`.

use http::StatusCode;

use crate::error::Failure;

pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// What the component answers: always plain text, with `allow` or `retry-after` where they apply.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    /// Lower-case names, in the order they are sent; `content-type` first.
    pub headers: Vec<(&'static str, &'static str)>,
    pub body: String,
}

impl Reply {
    pub fn plain(status: StatusCode, body: String) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", TEXT_PLAIN)],
            body,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: &'static str) -> Reply {
        self.headers.push((name, value));
        self
    }

    /// The failure's status and text, with `retry-after` when a retry may work.
    pub fn failure(failure: &Failure) -> Reply {
        let reply = Reply::plain(failure.status(), failure.to_string());
        match failure.retry_after() {
            Some(seconds) => reply.with_header("retry-after", seconds),
            None => reply,
        }
    }
}
