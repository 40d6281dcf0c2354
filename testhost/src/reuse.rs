//! How long and how widely one WASIp3 instance is reused: Spin 4.0.2's defaults and its
//! `up` flags `--max-instance-reuse-count`, `--max-instance-concurrent-reuse-count`,
//! `--request-timeout` and `--idle-instance-timeout`, parsed as Spin parses them.
//!
//! Each flag takes a value or a range `A..B` (A included, B excluded), from which every
//! new instance draws its own value, as Spin's instances do.

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use rand::distr::uniform::SampleUniform;
use rand::Rng;

/// A flag's value: fixed, or drawn anew for every instance from `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range<T> {
    Value(T),
    Bounds(T, T),
}

impl<T: Copy + PartialOrd + SampleUniform> Range<T> {
    /// The value for one new instance.
    pub fn sample(&self) -> T {
        match *self {
            Self::Value(value) => value,
            Self::Bounds(start, end) => rand::rng().random_range(start..end),
        }
    }
}

/// Spin's reuse settings for WASIp3 handlers (WASIp2 handlers always get a fresh
/// instance per request, whatever these say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceReuse {
    /// Requests one instance serves before it is dropped.
    pub max_requests: Range<usize>,
    /// Requests one instance serves at the same time.
    pub max_concurrent_requests: Range<usize>,
    /// How long a request may run; `None` is no limit.
    pub request_timeout: Option<Range<Duration>>,
    /// How long an instance with nothing to do is kept for the next request.
    pub idle_timeout: Range<Duration>,
}

impl Default for InstanceReuse {
    /// Spin 4.0.2's defaults: 128 requests, 16 at once, no request timeout, 1 s idle.
    fn default() -> Self {
        Self {
            max_requests: Range::Value(128),
            max_concurrent_requests: Range::Value(16),
            request_timeout: None,
            idle_timeout: Range::Value(Duration::from_secs(1)),
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

/// `A..B` or a single value, each part read by `parse`; Spin's syntax and message. An
/// empty range, which Spin takes and then panics on when it draws from it, is refused.
fn parse_range<T: PartialOrd, E: Display>(
    text: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Range<T>, String> {
    let part = |part: &str| {
        parse(part).map_err(|e| format!("expected integer or range; got {text:?}; {e}"))
    };
    match text.split_once("..") {
        Some((start, end)) => match (part(start)?, part(end)?) {
            (start, end) if start < end => Ok(Range::Bounds(start, end)),
            _ => Err(format!("the range {text:?} is empty (its end is excluded)")),
        },
        None => Ok(Range::Value(part(text)?)),
    }
}

/// A request count or range of counts. Spin 4.0.2 takes 0 too but cannot serve with it: a
/// reuse count of 0 panics on the first request, a concurrent count of 0 keeps each instance
/// waiting forever after its first request. Here 0 is refused at start-up instead.
fn parse_count(text: &str) -> Result<Range<usize>, String> {
    match parse_range(text, usize::from_str)? {
        Range::Value(0) | Range::Bounds(0, _) => {
            Err("an instance must serve at least 1 request".to_string())
        }
        range => Ok(range),
    }
}

/// A duration or range of durations, read exactly as Spin 4.0.2 reads it: whole seconds,
/// bare or with an `s` suffix. Spin 4.0.2 tests the `s` suffix first, so `ms`, `us`,
/// `μs` and `ns` values never parse there (its message lists them all the same); they
/// are refused here too, so that a command line that works here works on Spin.
fn parse_duration(text: &str) -> Result<Range<Duration>, String> {
    parse_range(text, |part| {
        let seconds = part
            .parse::<u64>()
            .or_else(|bare_error| match part.strip_suffix('s') {
                Some(number) => number.parse::<u64>(),
                None => Err(bare_error),
            });
        seconds.map(Duration::from_secs).map_err(|e| {
            let hint = if ["ms", "us", "μs", "ns"].iter().any(|s| part.ends_with(s)) {
                " (Spin 4.0.2 accepts whole seconds only, e.g. 1 or 1s)"
            } else {
                ""
            };
            format!(
                "expected integer suffixed by `s`, `ms`, `us`, `μs`, or `ns`; got {part:?}; {e}{hint}"
            )
        })
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
        assert_eq!(reuse.max_requests, Range::Value(128));
        assert_eq!(reuse.max_concurrent_requests, Range::Value(16));
        assert_eq!(reuse.request_timeout, None);
        assert_eq!(reuse.idle_timeout, Range::Value(Duration::from_secs(1)));
    }

    #[test]
    fn reads_values_and_ranges() {
        let reuse = reuse(&[
            ("--max-instance-reuse-count", "1"),
            ("--max-instance-concurrent-reuse-count", "2..8"),
            ("--request-timeout", "30s"),
            ("--idle-instance-timeout", "0..5s"),
        ])
        .unwrap();
        assert_eq!(reuse.max_requests, Range::Value(1));
        assert_eq!(reuse.max_concurrent_requests, Range::Bounds(2, 8));
        assert_eq!(
            reuse.request_timeout,
            Some(Range::Value(Duration::from_secs(30)))
        );
        assert_eq!(
            reuse.idle_timeout,
            Range::Bounds(Duration::ZERO, Duration::from_secs(5))
        );
        let bare = self::reuse(&[("--idle-instance-timeout", "7")]).unwrap();
        assert_eq!(bare.idle_timeout, Range::Value(Duration::from_secs(7)));
    }

    #[test]
    fn a_range_draws_from_start_up_to_its_excluded_end() {
        let range = Range::Bounds(2usize, 4);
        let drawn: std::collections::BTreeSet<usize> = (0..200).map(|_| range.sample()).collect();
        assert_eq!(drawn.into_iter().collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(Range::Value(5usize).sample(), 5);
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
        assert!(error("--max-instance-concurrent-reuse-count", "1..").contains("got \"1..\""));
        assert!(error("--request-timeout", "-1").contains("invalid digit"));
    }

    #[test]
    fn refuses_sub_second_suffixes_as_spin_4_0_2_does() {
        for value in ["500ms", "10us", "10μs", "10ns", "1..500ms"] {
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
        assert!(error("--max-instance-concurrent-reuse-count", "0..4").contains("at least 1"));
        assert!(error("--max-instance-reuse-count", "4..4").contains("is empty"));
        assert!(error("--idle-instance-timeout", "5..1").contains("is empty"));
    }

    #[test]
    fn knows_only_its_own_flags() {
        let mut reuse = InstanceReuse::default();
        assert!(reuse.set("--listen", "127.0.0.1:3000").is_err());
        assert_eq!(reuse, InstanceReuse::default());
    }
}
