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

    /// The headers as Spin's `fields` take them: (name, value bytes) pairs, ending with the
    /// body's `content-length`, so that no terminating chunk follows the body in a second write
    /// (docs/design.md, "Head and body in one write"). A `HEAD` reply carries the same length.
    pub fn header_fields(&self) -> Vec<(String, Vec<u8>)> {
        let length = self.body.len().to_string().into_bytes();
        (self.headers.iter())
            .map(|&(name, value)| (name.to_owned(), value.as_bytes().to_vec()))
            .chain([("content-length".to_owned(), length)])
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_host::assert_exact_content_length;
    use crate::test_support::hostile_text;
    use proptest::prelude::*;
    use std::time::Duration;

    /// Every failure the core builds, with hostile text in each of its fields and the timeouts
    /// the settings accept (1 ms to 60 s).
    fn any_failure() -> impl Strategy<Value = Failure> {
        let name = proptest::sample::select(vec![
            "counter_store",
            "redis_host",
            "redis_port",
            "redis_key",
            "redis_tls",
            "redis_timeout",
        ]);
        let text = hostile_text;
        prop_oneof![
            (name.clone(), text())
                .prop_map(|(name, reason)| Failure::InvalidSetting { name, reason }),
            (name, text()).prop_map(|(name, detail)| Failure::VariableUnreadable { name, detail }),
            (text(), text()).prop_map(|(store, cause)| Failure::Unavailable { store, cause }),
            (text(), text()).prop_map(|(store, cause)| Failure::NotAllowed { store, cause }),
            (text(), text(), text()).prop_map(|(store, key, detail)| Failure::ClusterNode {
                store,
                key,
                detail
            }),
            (text(), 1..=60_000u64).prop_map(|(store, ms)| Failure::TimedOut {
                store,
                after: Duration::from_millis(ms)
            }),
            (text(), text()).prop_map(|(store, cause)| Failure::Busy { store, cause }),
            (text(), text()).prop_map(|(store, cause)| Failure::Tls { store, cause }),
            Just(Failure::PasswordRequired),
            Just(Failure::CredentialsRejected),
            text().prop_map(|key| Failure::NotAnInteger { key }),
            (text(), text()).prop_map(|(store, message)| Failure::Store { store, message }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn a_failure_reply_carries_its_text_its_status_and_the_exact_content_length(
            failure in any_failure(),
        ) {
            let reply = Reply::failure(&failure);
            prop_assert_eq!(reply.status, failure.status());
            prop_assert_eq!(&reply.body, &failure.to_string());
            let retry = (reply.status == StatusCode::SERVICE_UNAVAILABLE).then_some("1");
            let expected: Vec<(&str, &str)> = [("content-type", TEXT_PLAIN)]
                .into_iter()
                .chain(retry.map(|seconds| ("retry-after", seconds)))
                .collect();
            prop_assert_eq!(&reply.headers, &expected);
            assert_exact_content_length(&reply);
        }

        #[test]
        fn a_plain_reply_carries_the_exact_content_length(
            status in 100..=599u16,
            body in hostile_text(),
        ) {
            let status = StatusCode::from_u16(status).expect("100-599 is a status");
            let reply = Reply::plain(status, body).with_header("allow", "GET");
            assert_exact_content_length(&reply);
        }
    }

    #[test]
    fn header_fields_keep_order_and_bytes_and_end_with_the_length() {
        let reply = Reply::plain(StatusCode::SERVICE_UNAVAILABLE, "down".into())
            .with_header("retry-after", "1");
        assert_eq!(
            reply.header_fields(),
            vec![
                ("content-type".to_string(), TEXT_PLAIN.as_bytes().to_vec()),
                ("retry-after".to_string(), b"1".to_vec()),
                ("content-length".to_string(), b"4".to_vec()),
            ]
        );
    }

    #[test]
    fn content_length_counts_bytes_not_characters() {
        let reply = Reply::plain(StatusCode::OK, "Visit count: 12".into());
        assert_eq!(
            reply.header_fields()[1],
            ("content-length".into(), b"15".to_vec())
        );
        let reply = Reply::plain(StatusCode::OK, "é".into());
        assert_eq!(
            reply.header_fields()[1],
            ("content-length".into(), b"2".to_vec())
        );
    }
}
