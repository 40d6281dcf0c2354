//! How long and how widely Spin 4 reuses one WASIp3 instance: its defaults, which the scenarios
//! run with, and `--request-timeout`, the one reuse flag they set, parsed as Spin parses it.
//! Spin's other reuse flags (`--max-instance-reuse-count`,
//! `--max-instance-concurrent-reuse-count`, `--idle-instance-timeout`) and its ranges `A..B` are
//! refused by the command line: nothing here uses them.

use std::time::Duration;

use anyhow::{anyhow, Result};

/// Requests one instance serves before it is dropped (Spin's default).
pub const MAX_REQUESTS: usize = 128;
/// Requests one instance serves at the same time (Spin's default).
pub const MAX_CONCURRENT_REQUESTS: usize = 16;
/// How long an instance with nothing to do is kept for the next request (Spin's default).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// The flag that sets how long a request may run (by default, without limit).
pub const REQUEST_TIMEOUT_FLAG: &str = "--request-timeout";

/// Spin's other reuse flags, refused by name.
pub const UNSUPPORTED_FLAGS: [&str; 3] = [
    "--max-instance-reuse-count",
    "--max-instance-concurrent-reuse-count",
    "--idle-instance-timeout",
];

/// `--request-timeout`'s value.
pub fn parse_request_timeout(value: &str) -> Result<Duration> {
    let invalid =
        |reason| anyhow!("invalid value '{value}' for '{REQUEST_TIMEOUT_FLAG}': {reason}");
    if value.contains("..") {
        return Err(invalid(
            "ranges are not supported by the test host".to_string(),
        ));
    }
    parse_duration(value).map_err(invalid)
}

/// A duration, read exactly as Spin 4.0.2 reads it: whole seconds, bare or with an `s`
/// suffix. Spin 4.0.2 tests the `s` suffix first, so `ms`, `us`, `μs` and `ns` values never
/// parse there (its message lists them all the same); they are refused here too, so that a
/// command line that works here works on Spin.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let seconds = text
        .parse::<u64>()
        .or_else(|bare_error| match text.strip_suffix('s') {
            Some(number) => number.parse::<u64>(),
            None => Err(bare_error),
        });
    seconds.map(Duration::from_secs).map_err(|e| {
        let hint = if ["ms", "us", "μs", "ns"].iter().any(|s| text.ends_with(s)) {
            " (Spin 4.0.2 accepts whole seconds only, e.g. 1 or 1s)"
        } else {
            ""
        };
        format!(
            "expected integer or range; got {text:?}; expected integer suffixed by `s`, `ms`, \
             `us`, `μs`, or `ns`; got {text:?}; {e}{hint}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(value: &str) -> String {
        parse_request_timeout(value).unwrap_err().to_string()
    }

    #[test]
    fn reads_whole_seconds_bare_or_with_s() {
        assert_eq!(
            parse_request_timeout("30").unwrap(),
            Duration::from_secs(30)
        );
        assert_eq!(parse_request_timeout("5s").unwrap(), Duration::from_secs(5));
    }

    #[test]
    fn refuses_malformed_values_with_spins_message() {
        assert_eq!(
            error("soon"),
            "invalid value 'soon' for '--request-timeout': expected integer or range; \
             got \"soon\"; expected integer suffixed by `s`, `ms`, `us`, `μs`, or `ns`; \
             got \"soon\"; invalid digit found in string"
        );
        assert!(error("-1").contains("invalid digit"));
        assert!(error("1..4").contains("ranges are not supported"));
    }

    #[test]
    fn refuses_sub_second_suffixes_as_spin_4_0_2_does() {
        for value in ["500ms", "10us", "10μs", "10ns"] {
            let message = error(value);
            assert!(
                message.contains("accepts whole seconds only"),
                "{value}: {message}"
            );
        }
    }
}
