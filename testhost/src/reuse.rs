//! How long and how widely one WASIp3 instance is reused: Spin 4.0.2's defaults and its
//! `up` flags `--max-instance-reuse-count`, `--max-instance-concurrent-reuse-count`,
//! `--request-timeout` and `--idle-instance-timeout`, parsed as Spin parses a single value.
//! (Spin also takes a range `A..B` to draw each instance's value from; nothing here uses one,
//! so it is refused.)

use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};

/// Spin's reuse settings for WASIp3 handlers (WASIp2 handlers always get a fresh
/// instance per request, whatever these say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceReuse {
    /// Requests one instance serves before it is dropped.
    pub max_requests: usize,
    /// Requests one instance serves at the same time.
    pub max_concurrent_requests: usize,
    /// How long a request may run; `None` is no limit.
    pub request_timeout: Option<Duration>,
    /// How long an instance with nothing to do is kept for the next request.
    pub idle_timeout: Duration,
}

impl Default for InstanceReuse {
    /// Spin 4.0.2's defaults: 128 requests, 16 at once, no request timeout, 1 s idle.
    fn default() -> Self {
        Self {
            max_requests: 128,
            max_concurrent_requests: 16,
            request_timeout: None,
            idle_timeout: Duration::from_secs(1),
        }
    }
}

impl InstanceReuse {
    /// The `up` flags that set these, named as Spin names them.
    pub const FLAGS: [&'static str; 4] = [
        "--max-instance-reuse-count",
        "--max-instance-concurrent-reuse-count",
        "--request-timeout",
        "--idle-instance-timeout",
    ];

    /// Sets the setting of `flag` (one of `FLAGS`) from its command-line `value`.
    pub fn set(&mut self, flag: &str, value: &str) -> Result<()> {
        let invalid = |reason| anyhow!("invalid value '{value}' for '{flag}': {reason}");
        if value.contains("..") {
            return Err(invalid(
                "ranges are not supported by the test host".to_string(),
            ));
        }
        match flag {
            "--max-instance-reuse-count" => {
                self.max_requests = parse_count(value).map_err(invalid)?
            }
            "--max-instance-concurrent-reuse-count" => {
                self.max_concurrent_requests = parse_count(value).map_err(invalid)?
            }
            "--request-timeout" => {
                self.request_timeout = Some(parse_duration(value).map_err(invalid)?)
            }
            "--idle-instance-timeout" => {
                self.idle_timeout = parse_duration(value).map_err(invalid)?
            }
            _ => bail!("'{flag}' is not an instance reuse flag"),
        }
        Ok(())
    }
}

/// A request count. Spin 4.0.2 takes 0 too but cannot serve with it: a reuse count of 0
/// panics on the first request, a concurrent count of 0 keeps each instance waiting forever
/// after its first request. Here 0 is refused at start-up instead.
fn parse_count(text: &str) -> Result<usize, String> {
    match usize::from_str(text) {
        Ok(0) => Err("an instance must serve at least 1 request".to_string()),
        Ok(count) => Ok(count),
        Err(e) => Err(format!("expected integer or range; got {text:?}; {e}")),
    }
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

    fn reuse(flags: &[(&str, &str)]) -> Result<InstanceReuse> {
        let mut reuse = InstanceReuse::default();
        for (flag, value) in flags {
            reuse.set(flag, value)?;
        }
        Ok(reuse)
    }

    fn error(flag: &str, value: &str) -> String {
        reuse(&[(flag, value)]).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_spins() {
        let reuse = InstanceReuse::default();
        assert_eq!(reuse.max_requests, 128);
        assert_eq!(reuse.max_concurrent_requests, 16);
        assert_eq!(reuse.request_timeout, None);
        assert_eq!(reuse.idle_timeout, Duration::from_secs(1));
    }

    #[test]
    fn reads_values() {
        let reuse = reuse(&[
            ("--max-instance-reuse-count", "1"),
            ("--max-instance-concurrent-reuse-count", "8"),
            ("--request-timeout", "30s"),
            ("--idle-instance-timeout", "5"),
        ])
        .unwrap();
        assert_eq!(reuse.max_requests, 1);
        assert_eq!(reuse.max_concurrent_requests, 8);
        assert_eq!(reuse.request_timeout, Some(Duration::from_secs(30)));
        assert_eq!(reuse.idle_timeout, Duration::from_secs(5));
    }

    #[test]
    fn refuses_malformed_values_with_spins_message() {
        assert_eq!(
            error("--max-instance-reuse-count", "many"),
            "invalid value 'many' for '--max-instance-reuse-count': expected integer or range; \
             got \"many\"; invalid digit found in string"
        );
        assert_eq!(
            error("--idle-instance-timeout", "soon"),
            "invalid value 'soon' for '--idle-instance-timeout': expected integer or range; \
             got \"soon\"; expected integer suffixed by `s`, `ms`, `us`, `μs`, or `ns`; \
             got \"soon\"; invalid digit found in string"
        );
        assert!(error("--request-timeout", "-1").contains("invalid digit"));
        assert!(error("--max-instance-reuse-count", "1..4").contains("ranges are not supported"));
    }

    #[test]
    fn refuses_sub_second_suffixes_as_spin_4_0_2_does() {
        for value in ["500ms", "10us", "10μs", "10ns"] {
            let message = error("--request-timeout", value);
            assert!(
                message.contains("accepts whole seconds only"),
                "{value}: {message}"
            );
        }
    }

    #[test]
    fn refuses_what_spin_would_panic_on_later() {
        assert!(error("--max-instance-reuse-count", "0").contains("at least 1 request"));
        assert!(error("--max-instance-concurrent-reuse-count", "0").contains("at least 1"));
    }

    #[test]
    fn knows_only_its_own_flags() {
        let mut reuse = InstanceReuse::default();
        assert!(reuse.set("--listen", "127.0.0.1:3000").is_err());
        assert_eq!(reuse, InstanceReuse::default());
    }
}
