//! Every way a request can fail, and the one place that turns a failure into an HTTP status.
//!
//! The `Display` text is both the response body and the log line, so it is written for the user:
//! what is wrong and what to do. No variant ever holds the Redis password.

use std::fmt;
use std::time::Duration;

use http::StatusCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A variable has a value the component cannot use.
    InvalidSetting { name: &'static str, reason: String },
    /// Spin could not give the component a variable (undeclared, provider error).
    VariableUnreadable { name: &'static str, detail: String },
    /// The store cannot be reached now (refused, reset, unknown host, a dropped connection):
    /// a passing condition, so retrying later may work.
    Unavailable { store: String, cause: String },
    /// Spin refused the connection: the allow-list in spin.toml does not let it through. A
    /// configuration error, which no retry fixes.
    NotAllowed { store: String, cause: String },
    /// A Redis Cluster node that does not serve the key (it answered MOVED, ASK or
    /// CLUSTERDOWN): the variables must name the node that owns the key, or a cluster proxy.
    ClusterNode {
        store: String,
        key: String,
        detail: String,
    },
    /// Redis did not answer within `redis_timeout`: the connection was dropped, and the call
    /// (which may still be applied) is not sent again.
    TimedOut { store: String, after: Duration },
    /// The store is locked by another writer and changed nothing; retrying later will work.
    Busy { store: String, cause: String },
    /// The TLS handshake with the store failed (an untrusted or invalid certificate...).
    Tls { store: String, cause: String },
    /// Redis wants a password and none was given.
    PasswordRequired,
    /// Redis refused the username/password.
    CredentialsRejected,
    /// The key holds something INCR cannot add one to; it is left as it is.
    NotAnInteger { key: String },
    /// The store answered with an error we have no better words for.
    Store { store: String, message: String },
}

impl Failure {
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::Unavailable { .. } | Failure::TimedOut { .. } | Failure::Busy { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds a client should wait before retrying, for failures that may pass by themselves.
    pub fn retry_after(&self) -> Option<&'static str> {
        (self.status() == StatusCode::SERVICE_UNAVAILABLE).then_some("1")
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::InvalidSetting { name, reason } => {
                write!(f, "invalid setting {name}: {reason}")
            }
            Failure::VariableUnreadable { name, detail } => {
                write!(f, "cannot read variable {name}: {detail}")
            }
            Failure::Unavailable { store, cause } => write!(f, "{store} is unavailable: {cause}"),
            Failure::TimedOut { store, after } => {
                write!(f, "{store} did not answer within ")?;
                // In u64: formatting `as_millis()`'s u128 would add 1.5 KB to the `.wasm`.
                match after.subsec_millis() {
                    0 => write!(f, "{} s", after.as_secs()),
                    ms => write!(f, "{} ms", after.as_secs() * 1000 + u64::from(ms)),
                }
            }
            Failure::Busy { store, cause } => write!(f, "{store} is busy: {cause}"),
            Failure::NotAllowed { store, cause } => write!(
                f,
                "{store} is not allowed by allowed_outbound_hosts in spin.toml: {cause}"
            ),
            Failure::ClusterNode { store, key, detail } => write!(
                f,
                "{store} is a Redis Cluster node that does not serve key '{key}' ({detail}): \
                 point redis_host and redis_port at that node, or at a cluster-aware proxy"
            ),
            Failure::Tls { store, cause } => write!(
                f,
                "TLS with {store} failed: {cause}; check redis_tls and redis_port, and that Spin \
                 trusts the server's certificate (SSL_CERT_FILE)"
            ),
            Failure::PasswordRequired => {
                f.write_str("Redis requires a password: set redis_password")
            }
            Failure::CredentialsRejected => f.write_str(
                "Redis rejected the credentials: check redis_username and redis_password",
            ),
            Failure::NotAnInteger { key } => write!(
                f,
                "key '{key}' does not hold an integer; fix or delete it in Redis"
            ),
            Failure::Store { store, message } => {
                write!(f, "{store} answered with an error: {message}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable() -> Failure {
        Failure::Unavailable {
            store: "Redis at 127.0.0.1:6379".into(),
            cause: "Connection refused (os error 111)".into(),
        }
    }

    fn busy() -> Failure {
        Failure::Busy {
            store: "key-value store 'default'".into(),
            cause: "database is locked".into(),
        }
    }

    fn timed_out(ms: u64) -> Failure {
        Failure::TimedOut {
            store: "Redis at 127.0.0.1:6379".into(),
            after: Duration::from_millis(ms),
        }
    }

    #[test]
    fn only_passing_failures_are_503_with_retry_after() {
        for failure in [unavailable(), busy(), timed_out(2000)] {
            assert_eq!(failure.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(failure.retry_after(), Some("1"));
        }
        let others = [
            Failure::InvalidSetting {
                name: "redis_port",
                reason: "x".into(),
            },
            Failure::VariableUnreadable {
                name: "redis_host",
                detail: "x".into(),
            },
            Failure::Tls {
                store: "Redis at h:1".into(),
                cause: "x".into(),
            },
            Failure::PasswordRequired,
            Failure::CredentialsRejected,
            Failure::NotAnInteger { key: "k".into() },
            Failure::NotAllowed {
                store: "Redis at h:1".into(),
                cause: "x".into(),
            },
            Failure::ClusterNode {
                store: "Redis at h:1".into(),
                key: "k".into(),
                detail: "x".into(),
            },
            Failure::Store {
                store: "Redis at h:1".into(),
                message: "x".into(),
            },
        ];
        for failure in others {
            assert_eq!(
                failure.status(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "{failure}"
            );
            assert_eq!(failure.retry_after(), None, "{failure}");
        }
    }

    #[test]
    fn bodies_say_what_to_do() {
        assert_eq!(
            unavailable().to_string(),
            "Redis at 127.0.0.1:6379 is unavailable: Connection refused (os error 111)"
        );
        assert_eq!(
            Failure::NotAnInteger {
                key: "visits".into()
            }
            .to_string(),
            "key 'visits' does not hold an integer; fix or delete it in Redis"
        );
        assert_eq!(
            timed_out(2000).to_string(),
            "Redis at 127.0.0.1:6379 did not answer within 2 s"
        );
        assert_eq!(
            timed_out(1500).to_string(),
            "Redis at 127.0.0.1:6379 did not answer within 1500 ms"
        );
        assert_eq!(
            busy().to_string(),
            "key-value store 'default' is busy: database is locked"
        );
        assert_eq!(
            Failure::CredentialsRejected.to_string(),
            "Redis rejected the credentials: check redis_username and redis_password"
        );
        assert_eq!(
            Failure::PasswordRequired.to_string(),
            "Redis requires a password: set redis_password"
        );
        assert_eq!(
            Failure::Store {
                store: "key-value store 'default'".into(),
                message: "boom".into()
            }
            .to_string(),
            "key-value store 'default' answered with an error: boom"
        );
    }
}
