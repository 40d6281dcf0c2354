//! The component's answer, and handing it to Spin.
//!
//! Replies are built here rather than as `http::Response`: the SDK's conversion of a returned
//! response builds an `anyhow::Error` on its failure path, and that alone links std's backtrace
//! printer and symbol demangler, a third of the `.wasm`'s code; `http::HeaderMap` costs as much again.

use http::StatusCode;
use spin_sdk::http::{Fields, OutgoingResponse, ResponseOutparam};

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

    /// Hands the reply to Spin the way the SDK does for a returned response, with the SDK's own
    /// log messages when that fails.
    pub async fn send(self, response_out: ResponseOutparam) {
        let headers: Vec<(String, Vec<u8>)> = self
            .headers
            .iter()
            .map(|&(name, value)| (name.to_owned(), value.as_bytes().to_vec()))
            .collect();
        let response = match Fields::from_list(&headers) {
            Ok(headers) => OutgoingResponse::new(headers),
            Err(e) => return eprintln!("Could not convert response: {e}"),
        };
        let status = self.status.as_u16();
        if response.set_status_code(status).is_err() {
            return eprintln!("Could not convert response: error setting status code to {status}");
        }
        let body = self.body.into_bytes();
        if let Err(e) = response_out.set_with_body(response, body).await {
            eprintln!("Could not set `ResponseOutparam`: {e}");
        }
    }
}
