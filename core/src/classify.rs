//! Spin's answers to outbound Redis and key-value calls -> the [`Failure`] the user can act on.
//!
//! Spin reports most failures as free text (see SPIN-FACTS), so [`classify`] reads that text. The
//! error shapes are Spin's WIT variants, mirrored here so both editions' SDK types map onto them.

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

pub fn redis_name(target: &RedisTarget) -> String {
    format!("Redis at {}", target.address())
}

pub fn redis_failure(target: &RedisTarget, error: RedisError, key: &str) -> Failure {
    let store = redis_name(target);
    let message = match error {
        RedisError::InvalidAddress => {
            return Failure::Unavailable {
                store,
                cause: "not allowed by allowed_outbound_hosts in spin.toml".into(),
            }
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
    // Spin's messages carry no credentials today; make sure they never will in ours.
    let message = scrub(message, target.password.expose());
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
    if password.is_empty() || !message.contains(password) {
        message
    } else {
        message.replace(password, "***")
    }
}

/// Turns a store's error text into the failure the user can act on.
fn classify(store: String, message: String, key: &str) -> Failure {
    const UNREACHABLE: &[&str] = &[
        "Connection refused",
        "Connection reset",
        "failed to lookup address",
        "Name or service not known",
        "No route to host",
        "Network is unreachable",
        "timed out",
        "Broken pipe",
        "broken pipe",
        "os error",
        "Invalid allowed host",
        "Connection closed",
        "connection closed",
    ];
    const TLS: &[&str] = &["TLS error", "SSL routines", "certificate verify failed"];
    const BUSY: &[&str] = &[
        "DatabaseBusy",
        "DatabaseLocked",
        "database is locked",
        "database table is locked",
    ];
    if message.contains("NOAUTH") {
        Failure::PasswordRequired
    } else if [
        "WRONGPASS",
        "AuthenticationFailed",
        "invalid username-password",
    ]
    .iter()
    .any(|m| message.contains(m))
    {
        Failure::CredentialsRejected
    } else if message.contains("not an integer") {
        Failure::NotAnInteger { key: key.into() }
    } else if TLS.iter().any(|m| message.contains(m)) {
        Failure::Tls {
            store,
            cause: message,
        }
    } else if BUSY.iter().any(|m| message.contains(m)) {
        Failure::Busy {
            store,
            cause: message,
        }
    } else if UNREACHABLE.iter().any(|m| message.contains(m)) {
        Failure::Unavailable {
            store,
            cause: message,
        }
    } else {
        Failure::Store { store, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify_redis(message: &str) -> Failure {
        classify("Redis at h:1".into(), message.into(), "visits")
    }

    #[test]
    fn spin_messages_map_to_specific_failures() {
        let unavailable = |cause: &str| Failure::Unavailable {
            store: "Redis at h:1".into(),
            cause: cause.into(),
        };
        for cause in [
            "Connection refused (os error 111)",
            "failed to lookup address information: Name or service not known",
            "Invalid allowed host port \"abc\"",
            "Invalid allowed host \":x@h\"",
            "broken pipe",
        ] {
            assert_eq!(classify_redis(cause), unavailable(cause));
        }
        let busy = |cause: &str| Failure::Busy {
            store: "key-value store 'default'".into(),
            cause: cause.into(),
        };
        for cause in [
            "SqliteFailure(Error { code: DatabaseBusy, extended_code: 5 }, Some(\"database is locked\"))",
            "SqliteFailure(Error { code: DatabaseLocked, extended_code: 6 }, Some(\"database table is locked\"))",
        ] {
            let store = "key-value store 'default'".to_string();
            assert_eq!(classify(store, cause.into(), "visits"), busy(cause));
        }
        let untrusted = "TLS error - IoError: error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:../ssl/statem/statem_clnt.c:1889: (self-signed certificate in certificate chain)";
        assert_eq!(
            classify_redis(untrusted),
            Failure::Tls {
                store: "Redis at h:1".into(),
                cause: untrusted.into()
            }
        );
        assert_eq!(
            classify_redis("NOAUTH: Authentication required."),
            Failure::PasswordRequired
        );
        assert_eq!(
            classify_redis("Password authentication failed- AuthenticationFailed"),
            Failure::CredentialsRejected
        );
        assert_eq!(
            classify_redis("WRONGPASS invalid username-password pair or user is disabled."),
            Failure::CredentialsRejected
        );
        assert_eq!(
            classify_redis("An error was signalled by the server - ResponseError: value is not an integer or out of range"),
            Failure::NotAnInteger { key: "visits".into() }
        );
        assert_eq!(
            classify_redis("ERR unknown command"),
            Failure::Store {
                store: "Redis at h:1".into(),
                message: "ERR unknown command".into()
            }
        );
    }

    #[test]
    fn scrub_hides_the_password() {
        assert_eq!(scrub("bad pw hunter2!".into(), "hunter2"), "bad pw ***!");
        assert_eq!(scrub("nothing here".into(), "hunter2"), "nothing here");
        assert_eq!(scrub("empty password".into(), ""), "empty password");
    }
}
