//! Spin application variables -> a typed, validated [`Settings`].
//!
//! Reading goes through the [`Variables`] trait, so every rule is unit-tested without Spin. Only
//! the variables the chosen storage mode needs are read: each read is a call into Spin, and a
//! WASIp2 instance reads them again for every request.

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use crate::error::Failure;

/// Where the count lives.
#[derive(Debug, PartialEq, Eq)]
pub enum Store {
    /// Spin's outbound Redis: INCRBY on the key, over the connection the instance keeps.
    Redis(Rc<RedisTarget>),
    /// Spin's key-value store `default` (`wasi:keyvalue`): atomic increment of the key.
    KeyValue,
}

/// Everything `/count` and `/readyz` need to know.
#[derive(Debug, PartialEq, Eq)]
pub struct Settings {
    pub key: String,
    pub store: Store,
}

/// A Redis server and the credentials to use on it.
#[derive(Debug, PartialEq, Eq)]
pub struct RedisTarget {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: Password,
    pub tls: bool,
    /// How long a request waits for Redis to open a connection and answer, all told.
    pub timeout: Duration,
}

/// The Redis password. Its `Debug` never shows the value and it has no `Display`, so it cannot leak
/// into a response or a log line by formatting.
#[derive(PartialEq, Eq, Default)]
pub struct Password(String);

impl Password {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Every form the value can take in a text: each byte percent-encoded, percent-encoded as
    /// [`RedisTarget::url`] holds it, and as it is; longest first, so that replacing them in this
    /// order leaves none.
    pub fn forms(&self) -> [String; 3] {
        let mut every_byte = String::with_capacity(3 * self.0.len());
        encode_into(&mut every_byte, &self.0, |_| false);
        let mut userinfo = String::with_capacity(self.0.len());
        percent_encode_into(&mut userinfo, &self.0);
        [every_byte, userinfo, self.0.clone()]
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// Spin's application variables, as the component sees them.
#[allow(async_fn_in_trait)] // a component instance is single-threaded: nothing here needs Send
pub trait Variables {
    /// `Ok(value)`, or `Err(why it could not be read)`.
    async fn get(&self, name: &'static str) -> Result<String, String>;
}

impl Settings {
    /// Reads and validates the variables the chosen `counter_store` needs.
    pub async fn read(variables: &impl Variables) -> Result<Settings, Failure> {
        let get = async |name: &'static str| {
            (variables.get(name).await)
                .map_err(|detail| Failure::VariableUnreadable { name, detail })
        };
        let store = get("counter_store").await?;
        let key = get("redis_key").await?;
        if key.is_empty() {
            return Err(invalid(
                "redis_key",
                "it is empty; name the key that holds the count",
            ));
        }
        let store = match store.as_str() {
            "redis" => Store::Redis(Rc::new(RedisTarget::read(&get).await?)),
            "kv" => Store::KeyValue,
            other => {
                return Err(invalid(
                    "counter_store",
                    format!("{other:?} is not redis or kv"),
                ));
            }
        };
        Ok(Settings { key, store })
    }
}

impl RedisTarget {
    async fn read(
        get: &impl AsyncFn(&'static str) -> Result<String, Failure>,
    ) -> Result<Self, Failure> {
        let host = get("redis_host").await?;
        validate_host(&host)?;
        let port = get("redis_port").await?;
        let port = match port.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => {
                let reason = format!("{port:?} is not a port number (1-65535)");
                return Err(invalid("redis_port", reason));
            }
        };
        let tls = get("redis_tls").await?;
        let tls = if tls.eq_ignore_ascii_case("true") {
            true
        } else if tls.eq_ignore_ascii_case("false") {
            false
        } else {
            return Err(invalid(
                "redis_tls",
                format!("{tls:?} is not true or false"),
            ));
        };
        let timeout = get("redis_timeout").await?;
        let Some(timeout) = parse_timeout(&timeout) else {
            let reason = format!("{timeout:?} is not a duration from 1ms to 60s (e.g. 2s, 500ms)");
            return Err(invalid("redis_timeout", reason));
        };
        Ok(RedisTarget {
            host,
            port,
            username: get("redis_username").await?,
            password: Password::new(get("redis_password").await?),
            tls,
            timeout,
        })
    }

    /// `host:port`, as shown to users (never with credentials).
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// What `allowed_outbound_hosts` must list for the URL: `redis[s]://host:port`.
    pub fn allowed_host(&self) -> String {
        format!("{}://{}", self.scheme(), self.address())
    }

    fn scheme(&self) -> &'static str {
        if self.tls {
            "rediss"
        } else {
            "redis"
        }
    }

    /// The URL handed to Spin's outbound Redis: `redis[s]://[user[:password]@]host:port`, with the
    /// credentials percent-encoded so any character works in a password.
    pub fn url(&self) -> String {
        let mut url = format!("{}://", self.scheme());
        let password = self.password.expose();
        if !self.username.is_empty() || !password.is_empty() {
            percent_encode_into(&mut url, &self.username);
            if !password.is_empty() {
                url.push(':');
                percent_encode_into(&mut url, password);
            }
            url.push('@');
        }
        url.push_str(&self.address());
        url
    }
}

/// `500ms`, `2s` or `1.5s`, from 1 ms to 60 s; anything else is `None`.
fn parse_timeout(text: &str) -> Option<Duration> {
    let timeout = match text.strip_suffix("ms") {
        Some(ms) => Duration::from_millis(digits(ms)?.parse().ok()?),
        None => {
            let seconds = text.strip_suffix('s')?;
            let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, "0"));
            let fraction = digits(fraction)?;
            let ms = (fraction.len() <= 3).then(|| format!("{fraction:0<3}"))?;
            // Checked: seconds past u64::MAX milliseconds are refused, not wrapped into the range.
            let whole: u64 = digits(whole)?.parse().ok()?;
            let ms = whole.checked_mul(1000)?.checked_add(ms.parse().ok()?)?;
            Duration::from_millis(ms)
        }
    };
    (Duration::from_millis(1)..=Duration::from_secs(60))
        .contains(&timeout)
        .then_some(timeout)
}

/// `text` if it is one or more ASCII digits.
fn digits(text: &str) -> Option<&str> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then_some(text)
}

fn invalid(name: &'static str, reason: impl Into<String>) -> Failure {
    Failure::InvalidSetting {
        name,
        reason: reason.into(),
    }
}

/// A host name, an IPv4 address or a bracketed IPv6 address: what can stand both in the URL and in
/// the `allowed_outbound_hosts` template without changing their meaning.
fn validate_host(host: &str) -> Result<(), Failure> {
    if host.is_empty() {
        return Err(invalid(
            "redis_host",
            "it is empty; set the Redis host name or IP address",
        ));
    }
    let valid = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(ipv6) => ipv6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_'),
    };
    if valid {
        Ok(())
    } else {
        let reason = format!("{host:?} is not a host name or IP address ([...] for IPv6)");
        Err(invalid("redis_host", reason))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so that any value can stand
/// in a URL's userinfo.
fn percent_encode_into(out: &mut String, value: &str) {
    let unreserved =
        |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~');
    encode_into(out, value, unreserved);
}

/// Percent-encodes every byte of `value` but those to `keep`.
fn encode_into(out: &mut String, value: &str, keep: impl Fn(u8) -> bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in value.bytes() {
        if keep(byte) {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0xF)] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{block_on, default_variables, hostile_text};
    use proptest::prelude::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    const PASSWORD: &str = "s3cr3t-p@ss";

    /// Variables from a map, recording the order they are read in.
    struct Map {
        values: HashMap<&'static str, String>,
        read: RefCell<Vec<&'static str>>,
    }

    impl Variables for Map {
        async fn get(&self, name: &'static str) -> Result<String, String> {
            self.read.borrow_mut().push(name);
            self.values
                .get(name)
                .cloned()
                .ok_or_else(|| format!("{name} is not declared"))
        }
    }

    fn map(overrides: &[(&'static str, &str)]) -> Map {
        let mut values = default_variables();
        for (name, value) in overrides {
            values.insert(name, value.to_string());
        }
        Map {
            values,
            read: RefCell::new(Vec::new()),
        }
    }

    fn parse_with(overrides: &[(&'static str, &str)]) -> Result<Settings, Failure> {
        block_on(Settings::read(&map(overrides)))
    }

    fn redis(settings: Settings) -> Rc<RedisTarget> {
        match settings.store {
            Store::Redis(target) => target,
            Store::KeyValue => panic!("expected the redis store"),
        }
    }

    fn error_text(overrides: &[(&'static str, &str)]) -> String {
        parse_with(overrides).unwrap_err().to_string()
    }

    #[test]
    fn defaults_give_local_redis() {
        let settings = parse_with(&[]).unwrap();
        assert_eq!(settings.key, "visits");
        let target = redis(settings);
        assert_eq!(target.address(), "127.0.0.1:6379");
        assert_eq!(target.url(), "redis://127.0.0.1:6379");
        assert!(!target.tls);
    }

    #[test]
    fn every_redis_variable_is_used() {
        let settings = parse_with(&[
            ("redis_host", "redis.internal"),
            ("redis_port", "6380"),
            ("redis_key", "hits"),
            ("redis_username", "counter"),
            ("redis_password", "pw"),
            ("redis_tls", "TRUE"),
        ])
        .unwrap();
        assert_eq!(settings.key, "hits");
        assert_eq!(
            redis(settings).url(),
            "rediss://counter:pw@redis.internal:6380"
        );
    }

    #[test]
    fn credentials_are_percent_encoded() {
        let target = redis(parse_with(&[("redis_password", "p@ss:w/o%rd #?é")]).unwrap());
        assert_eq!(
            target.url(),
            "redis://:p%40ss%3Aw%2Fo%25rd%20%23%3F%C3%A9@127.0.0.1:6379"
        );
        let target = redis(parse_with(&[("redis_username", "app user")]).unwrap());
        assert_eq!(target.url(), "redis://app%20user@127.0.0.1:6379");
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        let target = redis(parse_with(&[("redis_host", "[::1]")]).unwrap());
        assert_eq!(target.url(), "redis://[::1]:6379");
    }

    #[test]
    fn kv_mode_reads_no_redis_connection_variables() {
        let variables = map(&[("counter_store", "kv"), ("redis_port", "not read")]);
        let settings = block_on(Settings::read(&variables)).unwrap();
        assert_eq!(settings.store, Store::KeyValue);
        assert_eq!(*variables.read.borrow(), ["counter_store", "redis_key"]);
    }

    #[test]
    fn bad_ports_name_the_variable_and_value() {
        for port in ["abc", "0", "65536", "70000", "-1", "", " 6379"] {
            assert_eq!(
                error_text(&[("redis_port", port)]),
                format!("invalid setting redis_port: {port:?} is not a port number (1-65535)")
            );
        }
        assert!(parse_with(&[("redis_port", "65535")]).is_ok());
        assert!(parse_with(&[("redis_port", "1")]).is_ok());
    }

    #[test]
    fn bad_hosts_are_rejected() {
        assert_eq!(
            error_text(&[("redis_host", "")]),
            "invalid setting redis_host: it is empty; set the Redis host name or IP address"
        );
        for host in [
            "user:pw@redis",
            "redis:6379",
            "redis/0",
            "a b",
            "[::1",
            "[not-ip]",
        ] {
            assert_eq!(
                error_text(&[("redis_host", host)]),
                format!(
                    "invalid setting redis_host: {host:?} is not a host name or IP address ([...] for IPv6)"
                )
            );
        }
    }

    #[test]
    fn empty_key_is_rejected_in_both_modes() {
        let expected = "invalid setting redis_key: it is empty; name the key that holds the count";
        assert_eq!(error_text(&[("redis_key", "")]), expected);
        assert_eq!(
            error_text(&[("redis_key", ""), ("counter_store", "kv")]),
            expected
        );
    }

    #[test]
    fn tls_must_be_a_boolean() {
        assert_eq!(
            error_text(&[("redis_tls", "maybe")]),
            "invalid setting redis_tls: \"maybe\" is not true or false"
        );
        assert!(!redis(parse_with(&[("redis_tls", "False")]).unwrap()).tls);
    }

    #[test]
    fn timeouts_are_durations_from_1ms_to_60s() {
        let timeout = |text: &str| redis(parse_with(&[("redis_timeout", text)]).unwrap()).timeout;
        let ms = Duration::from_millis;
        assert_eq!(
            redis(parse_with(&[]).unwrap()).timeout,
            ms(2000),
            "the default"
        );
        assert_eq!(timeout("500ms"), ms(500));
        assert_eq!(timeout("1ms"), ms(1));
        assert_eq!(timeout("1.5s"), ms(1500));
        assert_eq!(timeout("0.25s"), ms(250));
        assert_eq!(timeout("60s"), ms(60_000));
        for bad in [
            "", "2", "0s", "0ms", "61s", "60.001s", "1.0001s", "-1s", "1 s", "s", ".5s", "2m",
            "1e3ms",
        ] {
            assert_eq!(
                error_text(&[("redis_timeout", bad)]),
                format!(
                    "invalid setting redis_timeout: {bad:?} is not a duration from 1ms to 60s (e.g. 2s, 500ms)"
                )
            );
        }
    }

    #[test]
    fn a_timeout_too_long_for_milliseconds_is_refused_not_wrapped() {
        // Unchecked, 18446744073709552 s would wrap to 384 ms.
        for too_long in [
            "18446744073709552s",
            "19000000000000000s",
            "18446744073709551.616s",
        ] {
            assert_eq!(
                error_text(&[("redis_timeout", too_long)]),
                format!(
                    "invalid setting redis_timeout: {too_long:?} is not a duration from 1ms to 60s (e.g. 2s, 500ms)"
                )
            );
        }
    }

    #[test]
    fn unknown_store_is_rejected() {
        assert_eq!(
            error_text(&[("counter_store", "memcached")]),
            "invalid setting counter_store: \"memcached\" is not redis or kv"
        );
    }

    struct ProviderDown;

    impl Variables for ProviderDown {
        async fn get(&self, name: &'static str) -> Result<String, String> {
            Err(format!("provider down for {name}"))
        }
    }

    #[test]
    fn unreadable_variable_is_named() {
        let err = block_on(Settings::read(&ProviderDown));
        assert_eq!(
            err.unwrap_err().to_string(),
            "cannot read variable counter_store: provider down for counter_store"
        );
    }

    /// Every variable the settings read, in spin.toml's order.
    const VARIABLES: [&str; 8] = [
        "counter_store",
        "redis_host",
        "redis_port",
        "redis_key",
        "redis_username",
        "redis_password",
        "redis_tls",
        "redis_timeout",
    ];

    /// Values near the edge of what each variable takes, and hostile text.
    fn any_value() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => hostile_text(),
            1 => r"redis|kv|REDIS|Kv| redis|redis\x00|",
            1 => r"[+-]?[0-9]{0,7}| ?6379 ?|6379\.0|0x18eb",
            1 => r"(?i:true|false|yes|0|1| true|true\x00)",
            1 => r"[+-]?[0-9]{0,25}(\.[0-9]{0,6})?(s|ms|m|h|us|S|MS)?",
            1 => r"[0-9]{15,21}(\.[0-9]{0,4})?(s|ms)",
            1 => r"[a-zA-Z0-9._-]{0,20}|\[[0-9a-fA-F:.%a-z]{0,45}\]?|[a-z]{1,8}[:/@ ][a-z0-9]{0,8}",
        ]
    }

    /// What each variable gives: its default, another value, or a failure to read it.
    fn any_variables() -> impl Strategy<Value = HashMap<&'static str, Result<String, String>>> {
        let given = prop_oneof![
            2 => Just(None),
            3 => any_value().prop_map(|value| Some(Ok(value))),
            1 => hostile_text().prop_map(|detail| Some(Err(detail))),
        ];
        proptest::collection::vec(given, VARIABLES.len()).prop_map(|given| {
            let defaults = default_variables();
            (VARIABLES.into_iter().zip(given))
                .map(|(name, given)| (name, given.unwrap_or_else(|| Ok(defaults[name].clone()))))
                .collect()
        })
    }

    /// Variables that may fail to be read, recording the order they are read in.
    struct Given {
        values: HashMap<&'static str, Result<String, String>>,
        read: RefCell<Vec<&'static str>>,
    }

    impl Variables for Given {
        async fn get(&self, name: &'static str) -> Result<String, String> {
            self.read.borrow_mut().push(name);
            self.values[name].clone()
        }
    }

    fn read_given(
        values: HashMap<&'static str, Result<String, String>>,
    ) -> (Result<Settings, Failure>, Vec<&'static str>) {
        let given = Given {
            values,
            read: RefCell::default(),
        };
        let settings = block_on(Settings::read(&given));
        (settings, given.read.take())
    }

    /// The milliseconds a timeout's text says (`500ms`, `1.5s`), counted without overflow.
    fn millis_in(text: &str) -> Option<u128> {
        let number = |digits: &str| {
            let all = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
            all.then(|| digits.parse::<u128>().ok()).flatten()
        };
        if let Some(ms) = text.strip_suffix("ms") {
            return number(ms);
        }
        let seconds = text.strip_suffix('s')?;
        let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, "0"));
        let fraction = (fraction.len() <= 3).then(|| format!("{fraction:0<3}"))?;
        Some(number(whole)? * 1000 + number(&fraction)?)
    }

    /// The variable a refusal's text names, from its two forms.
    fn refused_variable(failure: &Failure) -> &'static str {
        let text = failure.to_string();
        let named = VARIABLES.into_iter().find(|name| {
            text.starts_with(&format!("invalid setting {name}: "))
                || text.starts_with(&format!("cannot read variable {name}: "))
        });
        named.unwrap_or_else(|| panic!("{text:?} names no variable first"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn one_changed_variable_is_taken_or_refused_by_its_name(
            name in proptest::sample::select(VARIABLES.to_vec()),
            value in any_value(),
        ) {
            match parse_with(&[(name, &value)]) {
                Ok(settings) => match name {
                    "redis_key" => prop_assert_eq!(settings.key, value),
                    "redis_host" => prop_assert_eq!(&redis(settings).host, &value),
                    "redis_username" => prop_assert_eq!(&redis(settings).username, &value),
                    "redis_password" => {
                        let target = redis(settings);
                        prop_assert_eq!(target.password.expose(), value.as_str());
                    }
                    "redis_tls" => {
                        prop_assert_eq!(redis(settings).tls, value.eq_ignore_ascii_case("true"));
                    }
                    "redis_timeout" => {
                        let ms = redis(settings).timeout.as_millis();
                        prop_assert_eq!(Some(ms), millis_in(&value));
                    }
                    _ => {}
                },
                Err(failure) => {
                    prop_assert_eq!(refused_variable(&failure), name);
                    let never_refused = ["redis_username", "redis_password"];
                    prop_assert!(!never_refused.contains(&name), "{}", failure);
                    // The value is shown, quoted, unless the refusal is that it is empty.
                    let shown = failure.to_string().contains(&format!("{value:?}"));
                    prop_assert!(value.is_empty() || shown, "{}", failure);
                }
            }
        }

        #[test]
        fn any_variables_are_read_without_panic_and_a_refusal_names_the_variable_at_fault(
            values in any_variables(),
        ) {
            let (settings, read) = read_given(values.clone());
            if let Err(failure) = settings {
                let name = refused_variable(&failure);
                prop_assert!(read.contains(&name), "{} was not read: {:?}", name, read);
                if let Failure::VariableUnreadable { detail, .. } = &failure {
                    prop_assert_eq!(Err(detail.clone()), values[name].clone());
                }
                // At its default, the variable is not refused: the fault was its value.
                let mut fixed = values.clone();
                fixed.insert(name, Ok(default_variables()[name].clone()));
                if let (Err(again), _) = read_given(fixed) {
                    prop_assert_ne!(refused_variable(&again), name, "{}", again);
                }
            }
        }
    }

    #[test]
    fn password_never_shows_in_debug() {
        let settings = parse_with(&[("redis_password", PASSWORD)]).unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains(PASSWORD), "{debug}");
        assert!(debug.contains("password: \"***\""), "{debug}");
    }
}
