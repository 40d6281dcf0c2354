//! A small blocking HTTP client (ureq, no TLS) that turns every answer into a [`Reply`]
//! with the status, headers, body and how long it took, plus the assertions the scenarios share.

use std::time::{Duration, Instant};

/// Content type of every body the component writes.
pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
}

/// One HTTP answer, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub elapsed: Duration,
}

impl Reply {
    /// The value of a header (case-insensitive name), if present exactly once.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut values = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str());
        let first = values.next();
        assert!(
            values.next().is_none(),
            "header {name} appears more than once in {self:?}"
        );
        first
    }

    /// Asserts status, exact body and the plain-text content type.
    #[track_caller]
    pub fn assert_text(&self, status: u16, body: &str) {
        assert_eq!(
            (self.status, self.body.as_str()),
            (status, body),
            "unexpected reply: {self:?}"
        );
        self.assert_plain_text();
    }

    #[track_caller]
    pub fn assert_plain_text(&self) {
        assert_eq!(
            self.header("content-type"),
            Some(TEXT_PLAIN),
            "content type of {self:?}"
        );
    }

    /// Asserts a 503 that tells the client to retry in a second, whose body starts with `prefix`.
    #[track_caller]
    pub fn assert_unavailable(&self, prefix: &str) {
        assert_eq!(self.status, 503, "expected 503: {self:?}");
        assert_eq!(
            self.header("retry-after"),
            Some("1"),
            "retry-after of {self:?}"
        );
        assert!(
            self.body.starts_with(prefix) && self.body.len() > prefix.len(),
            "body should start with {prefix:?} and name the cause: {self:?}"
        );
        assert_one_line(&self.body);
        self.assert_plain_text();
    }

    /// The number in a `Visit count: N` body of a 200 reply.
    #[track_caller]
    pub fn visit_count(&self) -> u64 {
        assert_eq!(self.status, 200, "expected a count: {self:?}");
        parse_count(&self.body).unwrap_or_else(|| panic!("not a visit count: {self:?}"))
    }
}

#[track_caller]
pub fn assert_one_line(body: &str) {
    assert!(
        !body.contains('\n') && !body.contains('\r'),
        "body must be one line without a trailing newline: {body:?}"
    );
}

/// `Visit count: N` -> N. Strict: no whitespace or trailing newline allowed.
pub fn parse_count(body: &str) -> Option<u64> {
    let digits = body.strip_prefix("Visit count: ")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A client with its own connection pool; non-2xx statuses are answers, not errors.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// Sends one request and reads the whole answer.
pub fn send(agent: &ureq::Agent, method: Method, url: &str) -> Result<Reply, ureq::Error> {
    let start = Instant::now();
    let result = match method {
        Method::Get => agent.get(url).call(),
        Method::Head => agent.head(url).call(),
        Method::Delete => agent.delete(url).call(),
        Method::Post => agent.post(url).send_empty(),
        Method::Put => agent.put(url).send_empty(),
    };
    let mut response = result?;
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let status = response.status().as_u16();
    let body = if method == Method::Head {
        String::new()
    } else {
        response.body_mut().read_to_string()?
    };
    Ok(Reply {
        status,
        headers,
        body,
        elapsed: start.elapsed(),
    })
}
