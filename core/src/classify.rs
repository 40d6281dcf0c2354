//! Spin's answers to outbound Redis and key-value calls -> the [`Failure`] the user can act on.
//!
//! Spin reports almost every failure as free text (`error::other`), so classification reads that
//! text, through one table: [`TABLE`], one row per text, each naming where the text comes from.
//! The texts themselves are in [`spin_says`], verbatim as Spin 4.0.2 and 3.6.3 return them; the
//! test host's tests reproduce them from its own Redis client, so table and host cannot drift.

use crate::error::Failure;
use crate::settings::RedisTarget;

/// The key-value store label the component uses (declared in spin.toml's `key_value_stores`).
pub const KV_STORE: &str = "default";

/// An error of Spin's outbound Redis interface (`error` in fermyon:spin/redis and spin:redis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisError {
    InvalidAddress,
    TooManyConnections,
    TypeError,
    Other(String),
}

/// An error of `wasi:keyvalue/store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    NoSuchStore,
    AccessDenied,
    Other(String),
}

/// What Spin's outbound Redis and key-value store answer, verbatim, as the component receives it
/// (all in `error::other`). Spin formats a `redis::RedisError` (redis-rs 0.32) with `to_string()`.
pub mod spin_says {
    /// redis-rs's connect, from the OS (ECONNREFUSED): nothing listens on the port.
    pub const REFUSED: &str = "Connection refused (os error 111)";
    /// redis-rs's connect, from the OS (ECONNRESET): e.g. a plain-text client on a TLS port.
    pub const RESET: &str = "Connection reset by peer (os error 104)";
    /// redis-rs's resolver, from getaddrinfo (EAI_NONAME).
    pub const UNKNOWN_HOST: &str =
        "failed to lookup address information: Name or service not known";
    /// redis-rs's `closed_connection_error`: the connection's driver had stopped, or the socket
    /// closed with the command in flight (it may have been applied).
    pub const BROKEN_PIPE: &str = "broken pipe";
    /// Redis's NOAUTH reply to a command on a connection that did not authenticate.
    pub const NOAUTH: &str = "NOAUTH: Authentication required.";
    /// redis-rs's AuthenticationFailed, when Redis refuses AUTH while connecting.
    pub const WRONG_PASSWORD: &str = "Password authentication failed- AuthenticationFailed";
    /// Redis's ERR reply to INCR on a value that is not an integer (redis-rs ResponseError).
    pub const NOT_AN_INTEGER: &str = "An error was signalled by the server - ResponseError: value is not an integer or out of range";
    /// Redis Cluster's MOVED reply (redis-rs ErrorKind::Moved): another node owns the key's slot.
    pub const MOVED: &str = "An error was signalled by the server - Moved: 12263 127.0.0.1:7103";
    /// Redis's LOADING reply (redis-rs BusyLoadingError) while a restarted Redis reads its AOF
    /// back, before it serves commands; seen on Spin 4.1, which reconnects within that window.
    pub const LOADING: &str = "An error was signalled by the server - BusyLoadingError: Redis is loading the dataset in memory";
    /// Spin's outbound-networking: the allow-list template did not resolve to a valid host.
    pub const INVALID_ALLOWED_PORT: &str = "Invalid allowed host port \"abc\"";
    /// OpenSSL through native-tls: the server's certificate chain is not trusted.
    pub const UNTRUSTED_CERTIFICATE: &str = "TLS error - IoError: error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:../ssl/statem/statem_clnt.c:1889: (self-signed certificate in certificate chain)";
    /// Spin's SQLite key-value store (rusqlite) while another connection holds the lock.
    pub const SQLITE_BUSY: &str = "SqliteFailure(Error { code: DatabaseBusy, extended_code: 5 }, Some(\"database is locked\"))";
}

/// What a row of [`TABLE`] says a text means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    PasswordRequired,
    CredentialsRejected,
    NotAnInteger,
    /// A Redis Cluster node that does not serve the key: `MOVED`/`ASK` name the owner.
    ClusterRedirect,
    /// A Redis Cluster node that cannot serve the key's slot at all.
    ClusterDown,
    Tls,
    Busy,
    NotAllowed,
    Unavailable,
}

/// Spin's error texts -> what they mean, first match wins: one row per text, its comment saying
/// where the text comes from. Rows with a more specific text come first: a TLS failure can
/// mention a reset, a server reply can mention anything.
const TABLE: &[(&str, Meaning)] = &[
    ("NOAUTH", Meaning::PasswordRequired), // Redis: NOAUTH reply, no password sent
    ("WRONGPASS", Meaning::CredentialsRejected), // Redis 6+: WRONGPASS reply to AUTH
    ("AuthenticationFailed", Meaning::CredentialsRejected), // redis-rs: AuthenticationFailed while connecting
    ("invalid username-password", Meaning::CredentialsRejected), // Redis 6+: WRONGPASS text
    ("not an integer", Meaning::NotAnInteger), // Redis: ERR reply to INCR/INCRBY (redis-rs ResponseError)
    ("- Moved: ", Meaning::ClusterRedirect),   // Redis Cluster: MOVED (redis-rs ErrorKind::Moved)
    ("- Ask: ", Meaning::ClusterRedirect), // Redis Cluster: ASK during a slot migration (redis-rs ErrorKind::Ask)
    ("ClusterDown", Meaning::ClusterDown), // Redis Cluster: CLUSTERDOWN (redis-rs ErrorKind::ClusterDown)
    ("CLUSTERDOWN", Meaning::ClusterDown), // Redis Cluster: CLUSTERDOWN reply text
    ("TLS error", Meaning::Tls),           // redis-rs: native-tls handshake failure
    ("SSL routines", Meaning::Tls),        // OpenSSL error string
    ("certificate verify failed", Meaning::Tls), // OpenSSL: untrusted or expired certificate
    ("DatabaseBusy", Meaning::Busy),       // Spin's SQLite store: rusqlite SQLITE_BUSY
    ("DatabaseLocked", Meaning::Busy),     // Spin's SQLite store: rusqlite SQLITE_LOCKED
    ("database is locked", Meaning::Busy), // SQLite: SQLITE_BUSY text
    ("database table is locked", Meaning::Busy), // SQLite: SQLITE_LOCKED text
    ("Invalid allowed host", Meaning::NotAllowed), // Spin outbound-networking: allow-list template not a host
    ("Connection refused", Meaning::Unavailable),  // OS: ECONNREFUSED (os error 111)
    ("Connection reset", Meaning::Unavailable),    // OS: ECONNRESET (os error 104)
    ("Connection aborted", Meaning::Unavailable),  // OS: ECONNABORTED (os error 103)
    ("No route to host", Meaning::Unavailable),    // OS: EHOSTUNREACH (os error 113)
    ("Network is unreachable", Meaning::Unavailable), // OS: ENETUNREACH (os error 101)
    ("timed out", Meaning::Unavailable),           // OS: ETIMEDOUT (os error 110)
    ("failed to lookup address", Meaning::Unavailable), // redis-rs: getaddrinfo failed (unknown host, DNS down)
    ("BusyLoadingError", Meaning::Unavailable), // Redis: LOADING reply while it reads its dataset back
    ("broken pipe", Meaning::Unavailable),      // redis-rs: closed_connection_error
    ("Broken pipe", Meaning::Unavailable),      // OS: EPIPE (os error 32)
    ("onnection closed", Meaning::Unavailable), // redis-rs: Connection closed / connection closed by server
];

pub fn redis_name(target: &RedisTarget) -> String {
    format!("Redis at {}", target.address())
}

pub fn redis_failure(target: &RedisTarget, error: RedisError, key: &str) -> Failure {
    let store = redis_name(target);
    let message = match error {
        RedisError::InvalidAddress => {
            let cause = format!(
                "list {} there, or set redis_host and redis_port to what it lists",
                target.allowed_host()
            );
            return Failure::NotAllowed { store, cause };
        }
        RedisError::TooManyConnections => {
            return Failure::Unavailable {
                store,
                cause: "too many connections".into(),
            }
        }
        RedisError::TypeError => "the value has the wrong type".to_string(),
        RedisError::Other(message) => message,
    };
    // Spin's messages carry no credentials today; make sure they never will in ours, in any
    // form a URL could hold them in.
    let forms = target.password.forms();
    let message = forms
        .iter()
        .fold(message, |message, form| scrub(message, form));
    classify(store, message, key)
}

pub fn kv_failure(error: KvError, key: &str) -> Failure {
    let store = format!("key-value store '{KV_STORE}'");
    match error {
        KvError::NoSuchStore => Failure::Store {
            store,
            message: "no such store: map it in the runtime config or use Spin's default".into(),
        },
        KvError::AccessDenied => Failure::Store {
            store,
            message: "access denied: list it in key_value_stores in spin.toml".into(),
        },
        KvError::Other(message) => classify(store, message, key),
    }
}

fn scrub(message: String, password: &str) -> String {
    if password.is_empty() {
        return message;
    }
    let mut scrubbed = String::with_capacity(message.len());
    let mut rest = message.as_str();
    while let Some(at) = find(rest, password) {
        scrubbed.push_str(&rest[..at]);
        scrubbed.push_str("***");
        rest = &rest[at + password.len()..];
    }
    scrubbed.push_str(rest);
    scrubbed
}

/// Where `text` (not empty) first occurs in `message`. A plain scan: the texts are short, and
/// `str::contains` would link std's two-way searcher, 2 KB of the portable `.wasm`.
fn find(message: &str, text: &str) -> Option<usize> {
    let text = text.as_bytes();
    message
        .as_bytes()
        .windows(text.len())
        .position(|w| w == text)
}

/// Turns a store's error text into the failure the user can act on, by the first row of
/// [`TABLE`] that matches; a text no row knows is the store's own answer, passed on as it is.
fn classify(store: String, message: String, key: &str) -> Failure {
    let Some(&(_, means)) = TABLE
        .iter()
        .find(|(text, _)| find(&message, text).is_some())
    else {
        return Failure::Store { store, message };
    };
    let key = key.to_string();
    match means {
        Meaning::PasswordRequired => Failure::PasswordRequired,
        Meaning::CredentialsRejected => Failure::CredentialsRejected,
        Meaning::NotAnInteger => Failure::NotAnInteger { key },
        Meaning::ClusterRedirect => {
            // `... - Moved: <slot> <host:port>`: the owner is the last word.
            let owner = message.split_whitespace().last().unwrap_or_default();
            let detail = format!("the key's slot is served by {owner}");
            Failure::ClusterNode { store, key, detail }
        }
        Meaning::ClusterDown => {
            let detail = format!("the cluster cannot serve its slot: {message}");
            Failure::ClusterNode { store, key, detail }
        }
        Meaning::Tls => Failure::Tls {
            store,
            cause: message,
        },
        Meaning::Busy => Failure::Busy {
            store,
            cause: message,
        },
        Meaning::NotAllowed => Failure::NotAllowed {
            store,
            cause: format!(
                "{message}; it is templated from redis_host and redis_port, which must give a \
                 host:port"
            ),
        },
        Meaning::Unavailable => Failure::Unavailable {
            store,
            cause: message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::spin_says::*;
    use super::*;
    use crate::fake_host::{assert_exact_content_length, get, FakeHost};
    use crate::instance::Instance;
    use crate::reply::Reply;
    use crate::test_support::hostile_text;
    use http::StatusCode;
    use proptest::prelude::*;

    const REDIS: &str = "Redis at h:1";

    /// The default Redis, over TLS, with this password.
    fn tls_target(password: &str) -> RedisTarget {
        RedisTarget {
            host: "127.0.0.1".into(),
            port: 6379,
            username: String::new(),
            password: crate::settings::Password::new(password.into()),
            tls: true,
            timeout: std::time::Duration::from_secs(2),
        }
    }

    fn classify_redis(message: &str) -> Failure {
        classify(REDIS.into(), message.into(), "visits")
    }

    /// Every verbatim text, with the status and body the user gets for it.
    #[test]
    fn each_text_spin_returns_gets_its_own_status_and_words() {
        let cases: &[(&str, StatusCode, &str)] = &[
            (REFUSED, StatusCode::SERVICE_UNAVAILABLE, "Redis at h:1 is unavailable: Connection refused (os error 111)"),
            (RESET, StatusCode::SERVICE_UNAVAILABLE, "Redis at h:1 is unavailable: Connection reset by peer (os error 104)"),
            (UNKNOWN_HOST, StatusCode::SERVICE_UNAVAILABLE, "Redis at h:1 is unavailable: failed to lookup address information: Name or service not known"),
            (BROKEN_PIPE, StatusCode::SERVICE_UNAVAILABLE, "Redis at h:1 is unavailable: broken pipe"),
            (LOADING, StatusCode::SERVICE_UNAVAILABLE, "Redis at h:1 is unavailable: An error was signalled by the server - BusyLoadingError: Redis is loading the dataset in memory"),
            (NOAUTH, StatusCode::INTERNAL_SERVER_ERROR, "Redis requires a password: set redis_password"),
            (WRONG_PASSWORD, StatusCode::INTERNAL_SERVER_ERROR, "Redis rejected the credentials: check redis_username and redis_password"),
            (NOT_AN_INTEGER, StatusCode::INTERNAL_SERVER_ERROR, "key 'visits' does not hold an integer; fix or delete it in Redis"),
            (MOVED, StatusCode::INTERNAL_SERVER_ERROR, "Redis at h:1 is a Redis Cluster node that does not serve key 'visits' (the key's slot is served by 127.0.0.1:7103): point redis_host and redis_port at that node, or at a cluster-aware proxy"),
            (INVALID_ALLOWED_PORT, StatusCode::INTERNAL_SERVER_ERROR, "Redis at h:1 is not allowed by allowed_outbound_hosts in spin.toml: Invalid allowed host port \"abc\"; it is templated from redis_host and redis_port, which must give a host:port"),
        ];
        for &(text, status, body) in cases {
            let failure = classify_redis(text);
            assert_eq!(
                (failure.status(), failure.to_string().as_str()),
                (status, body),
                "{text}"
            );
            let retry = (status == StatusCode::SERVICE_UNAVAILABLE).then_some("1");
            assert_eq!(failure.retry_after(), retry, "{text}");
        }
        let untrusted = classify_redis(UNTRUSTED_CERTIFICATE);
        assert_eq!(
            untrusted,
            Failure::Tls {
                store: REDIS.into(),
                cause: UNTRUSTED_CERTIFICATE.into()
            }
        );
        let busy = classify(
            "key-value store 'default'".into(),
            SQLITE_BUSY.into(),
            "visits",
        );
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(matches!(busy, Failure::Busy { .. }));
    }

    #[test]
    fn other_cluster_answers_name_the_key_and_what_to_do() {
        let ask =
            classify_redis("An error was signalled by the server - Ask: 12263 127.0.0.1:7104");
        assert!(
            ask.to_string()
                .contains("(the key's slot is served by 127.0.0.1:7104)"),
            "{ask}"
        );
        let down = classify_redis(
            "An error was signalled by the server - ClusterDown: Hash slot not served",
        );
        assert_eq!(
            down.to_string(),
            "Redis at h:1 is a Redis Cluster node that does not serve key 'visits' (the cluster cannot serve its slot: An error was signalled by the server - ClusterDown: Hash slot not served): point redis_host and redis_port at that node, or at a cluster-aware proxy"
        );
        assert_eq!(down.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn an_allow_list_refusal_is_a_configuration_error() {
        let failure = redis_failure(&tls_target("s3cret"), RedisError::InvalidAddress, "visits");
        assert_eq!(failure.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(failure.retry_after(), None);
        assert_eq!(
            failure.to_string(),
            "Redis at 127.0.0.1:6379 is not allowed by allowed_outbound_hosts in spin.toml: list rediss://127.0.0.1:6379 there, or set redis_host and redis_port to what it lists"
        );
    }

    #[test]
    fn only_known_texts_are_classified() {
        // An OS error no row names is the store's answer, not a guess at "unavailable".
        for text in [
            "ERR unknown command",
            "Permission denied (os error 13)",
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ] {
            assert_eq!(
                classify_redis(text),
                Failure::Store {
                    store: REDIS.into(),
                    message: text.into()
                }
            );
        }
        // WRONGTYPE is not WRONGPASS.
        assert_ne!(classify_redis("WRONGTYPE x"), Failure::CredentialsRejected);
    }

    #[test]
    fn rows_are_ordered_specific_first() {
        // A TLS failure that ends in a reset is a TLS failure.
        let tls_reset = "TLS error - IoError: Connection reset by peer (os error 104)";
        assert!(matches!(classify_redis(tls_reset), Failure::Tls { .. }));
        // No row's text is found inside an earlier row's, which would make the later unreachable.
        for (i, (later, _)) in TABLE.iter().enumerate() {
            for (earlier, _) in &TABLE[..i] {
                assert!(
                    !later.contains(earlier),
                    "{later:?} can never match: {earlier:?} comes first"
                );
            }
        }
    }

    #[test]
    fn a_spin_message_that_holds_the_password_never_reaches_the_reply() {
        let target = tls_target("hunter2");
        for text in [
            "Connection refused (os error 111) for rediss://:hunter2@127.0.0.1:6379",
            "ERR something about hunter2",
        ] {
            let failure = redis_failure(&target, RedisError::Other(text.into()), "visits");
            let shown = format!("{failure} {failure:?}");
            assert!(
                !shown.contains("hunter2") && shown.contains("***"),
                "{shown}"
            );
        }
    }

    /// The forms a password takes in a text: as it is, percent-encoded as the URL holds it (all
    /// but RFC 3986's unreserved characters), and with every byte encoded. Encoded here, not by
    /// the product's encoder, so a bug in that one shows.
    fn password_forms(password: &str) -> [String; 3] {
        let encode = |keep: fn(u8) -> bool| -> String {
            (password.bytes())
                .map(|b| {
                    if keep(b) {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
        [password.to_string(), encode(unreserved), encode(|_| false)]
    }

    /// A piece of a Spin error text: words of Spin's or hostile ones, or the password in one of
    /// its forms (0-2), or the URL that holds it.
    #[derive(Debug, Clone)]
    enum Piece {
        Text(String),
        Password(usize),
        Url,
    }

    fn any_pieces() -> impl Strategy<Value = Vec<Piece>> {
        let spin = proptest::sample::select(vec![
            REFUSED,
            RESET,
            UNKNOWN_HOST,
            BROKEN_PIPE,
            NOAUTH,
            WRONG_PASSWORD,
            NOT_AN_INTEGER,
            MOVED,
            LOADING,
            INVALID_ALLOWED_PORT,
            UNTRUSTED_CERTIFICATE,
            "- Moved: 1 ",
            " ",
        ]);
        let piece = prop_oneof![
            2 => spin.prop_map(|text| Piece::Text(text.into())),
            2 => hostile_text().prop_map(Piece::Text),
            3 => (0..3usize).prop_map(Piece::Password),
            1 => Just(Piece::Url),
        ];
        proptest::collection::vec(piece, 1..6)
    }

    /// A password of any characters, the URL's own among them, up to 10 KB.
    fn any_password() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => hostile_text(),
            2 => "[%@:/?#\\[\\] é€]{1,12}",
            1 => Just(String::new()),
            1 => "[^*]{1,8}".prop_map(|chunk| chunk.repeat(10_240 / chunk.len() + 1)),
        ]
    }

    fn text_of(pieces: &[Piece], password: &str) -> String {
        let forms = password_forms(password);
        let userinfo = &forms[1];
        (pieces.iter())
            .map(|piece| match piece {
                Piece::Text(text) => text.clone(),
                Piece::Password(form) => forms[*form].clone(),
                Piece::Url => format!("redis://counter:{userinfo}@127.0.0.1:6379"),
            })
            .collect()
    }

    /// The reply and the log lines of one request whose Redis call fails with `text`.
    fn served_failing_with(
        text: &str,
        password: &str,
        on_open: bool,
        path: &str,
    ) -> (Reply, Vec<String>) {
        let host = FakeHost::with(&[("redis_username", "counter"), ("redis_password", password)]);
        let host = if on_open {
            host.failing_opens(text, 1)
        } else {
            host.failing_calls(text, 1)
        };
        let instance = Instance::new(host);
        let reply = get(&instance, path);
        let logged = instance.host.logged.take();
        (reply, logged)
    }

    #[test]
    fn a_spin_message_that_holds_the_password_percent_encoded_never_reaches_the_reply() {
        let cases = [
            // As the URL holds it.
            (
                "p@ss:",
                "Connection refused for redis://counter:p%40ss%3A@127.0.0.1:6379",
                "Redis at 127.0.0.1:6379 is unavailable: Connection refused for redis://counter:***@127.0.0.1:6379",
            ),
            // With every byte encoded.
            ("p@ss", "ERR %70%40%73%73", "Redis at 127.0.0.1:6379 answered with an error: ERR ***"),
        ];
        for (password, text, body) in cases {
            let (reply, logged) = served_failing_with(text, password, true, "/count");
            assert_eq!(reply.body, body);
            assert_eq!(
                logged,
                [format!("GET /count -> {}: {body}", reply.status.as_u16())]
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn no_reply_or_log_line_holds_the_password_in_any_form(
            password in any_password(),
            pieces in any_pieces(),
            on_open in any::<bool>(),
            path in proptest::sample::select(vec!["/count", "/readyz"]),
        ) {
            let text = text_of(&pieces, &password);
            let (reply, logged) = served_failing_with(&text, &password, on_open, path);
            prop_assert!(reply.status.is_server_error(), "{}", reply.body);
            prop_assert_eq!(logged.len(), 1);
            assert_exact_content_length(&reply);
            // What the user gets had Spin written *** for the password: a form found there
            // is in the words around it, and shows nothing.
            let without: Vec<Piece> = (pieces.iter())
                .map(|piece| match piece {
                    Piece::Text(text) => Piece::Text(text.clone()),
                    _ => Piece::Text("***".into()),
                })
                .collect();
            let text = text_of(&without, &password);
            let (clean, clean_logged) = served_failing_with(&text, &password, on_open, path);
            for form in password_forms(&password) {
                let shown_anyway = clean.body.contains(&form) || clean_logged[0].contains(&form);
                if form.is_empty() || shown_anyway {
                    continue;
                }
                prop_assert!(!reply.body.contains(&form), "{:?} in {:?}", form, reply.body);
                prop_assert!(!logged[0].contains(&form), "{:?} in {:?}", form, logged[0]);
            }
        }
    }

    #[test]
    fn scrub_hides_the_password() {
        assert_eq!(scrub("bad pw hunter2!".into(), "hunter2"), "bad pw ***!");
        assert_eq!(scrub("nothing here".into(), "hunter2"), "nothing here");
        assert_eq!(scrub("empty password".into(), ""), "empty password");
        // Every occurrence, back to back and at either end, in any characters.
        assert_eq!(scrub("pé:pépé".into(), "pé"), "***:******");
        assert_eq!(scrub("ab".into(), "abc"), "ab");
    }

    #[test]
    fn find_finds_the_first_occurrence_and_only_whole_texts() {
        assert_eq!(
            find("Connection refused (os error 111)", "refused"),
            Some(11)
        );
        assert_eq!(find("NOAUTH NOAUTH", "NOAUTH"), Some(0));
        assert_eq!(find("WRONGTYPE", "WRONGPASS"), None);
        assert_eq!(find("short", "longer than it"), None);
        assert!(TABLE.iter().all(|(text, _)| !text.is_empty()));
    }
}
