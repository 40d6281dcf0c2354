//! The command line: the subset of `spin up` that the tests and benchmarks use, with the
//! same flag names, so one test can start either binary.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::reuse;

pub const USAGE: &str = "usage: spin-test-host up [--from <DIR|spin.toml>] [--listen <ADDR>] \
[--variable <NAME=VALUE>]... [--runtime-config-file <FILE>] [--state-dir <DIR>] \
[--request-timeout <SECONDS>] [--tls-cert <PEM> --tls-key <PEM>]";

/// The parsed `up` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Up {
    pub from: PathBuf,
    pub listen: SocketAddr,
    /// `--variable` values; a later flag for the same name wins.
    pub variables: HashMap<String, String>,
    pub runtime_config_file: Option<PathBuf>,
    /// `Some("")` explicitly unsets the state directory, as in Spin.
    pub state_dir: Option<String>,
    /// How long a request to a WASIp3 instance may run; `None` is no limit.
    pub request_timeout: Option<std::time::Duration>,
    /// `--tls-cert` and `--tls-key`: serve HTTPS with this certificate chain and key (PEM).
    pub tls: Option<Tls>,
}

/// The files of `--tls-cert` and `--tls-key`, which Spin takes only together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Up {
    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self> {
        let mut args = args.into_iter();
        match args.next().as_deref() {
            Some("up") => {}
            Some(other) => {
                bail!("unknown command '{other}' (the test host only runs `up`)\n{USAGE}")
            }
            None => bail!("{USAGE}"),
        }
        let mut up = Up {
            from: PathBuf::from("."),
            listen: "127.0.0.1:3000".parse()?,
            variables: HashMap::new(),
            runtime_config_file: None,
            state_dir: None,
            request_timeout: None,
            tls: None,
        };
        let (mut tls_cert, mut tls_key) = (None, None);
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => {
                    (flag.to_string(), Some(value.to_string()))
                }
                _ => (arg.clone(), None),
            };
            let mut value = || -> Result<String> {
                match inline.clone() {
                    Some(v) => Ok(v),
                    None => args
                        .next()
                        .with_context(|| format!("a value is required for '{flag}'")),
                }
            };
            match flag.as_str() {
                "--from" | "-f" | "--file" => up.from = PathBuf::from(value()?),
                "--listen" => {
                    let addr = value()?;
                    up.listen = addr
                        .parse()
                        .with_context(|| format!("invalid --listen address '{addr}'"))?;
                }
                "--variable" => up.variables.extend(parse_variable(&value()?)?),
                "--runtime-config-file" => up.runtime_config_file = Some(PathBuf::from(value()?)),
                "--state-dir" => up.state_dir = Some(value()?),
                "--tls-cert" => tls_cert = Some(PathBuf::from(value()?)),
                "--tls-key" => tls_key = Some(PathBuf::from(value()?)),
                reuse::REQUEST_TIMEOUT_FLAG => {
                    up.request_timeout = Some(reuse::parse_request_timeout(&value()?)?);
                }
                flag if reuse::UNSUPPORTED_FLAGS.contains(&flag) || flag == "--disable-cache" => {
                    bail!(
                        "'{flag}' is not supported by the test host (it reuses WASIp3 instances \
                         with Spin's defaults: 128 requests, 16 at once, 1 s idle, and caches \
                         compiled components)"
                    )
                }
                other => bail!("unexpected argument '{other}'\n{USAGE}"),
            }
        }
        up.tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some(Tls { cert, key }),
            (None, None) => None,
            // Spin's words for either one alone.
            (Some(_), None) => bail!("the argument '--tls-cert' requires '--tls-key'\n{USAGE}"),
            (None, Some(_)) => bail!("the argument '--tls-key' requires '--tls-cert'\n{USAGE}"),
        };
        Ok(up)
    }
}

/// One `--variable name=value` (Spin's `name=@file` and `@file.toml` forms are not used here).
fn parse_variable(text: &str) -> Result<HashMap<String, String>> {
    let Some((name, value)) = text.split_once('=') else {
        bail!("variables must be in the form 'key=value'");
    };
    Ok(HashMap::from([(name.to_string(), value.to_string())]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parse(args: &[&str]) -> Result<Up> {
        Up::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn reads_spin_up_flags() {
        let up = parse(&[
            "up",
            "--from",
            "app",
            "--listen",
            "127.0.0.1:5099",
            "--variable",
            "redis_port=6390",
            "--variable=redis_key=a=b",
            "--runtime-config-file",
            "rc.toml",
            "--state-dir",
            "",
            "--request-timeout=30",
        ])
        .unwrap();
        assert_eq!(up.from, PathBuf::from("app"));
        assert_eq!(up.listen, "127.0.0.1:5099".parse().unwrap());
        assert_eq!(up.variables["redis_port"], "6390");
        assert_eq!(up.variables["redis_key"], "a=b");
        assert_eq!(up.runtime_config_file, Some(PathBuf::from("rc.toml")));
        assert_eq!(up.state_dir.as_deref(), Some(""));
        assert_eq!(up.request_timeout, Some(Duration::from_secs(30)));
        assert_eq!(parse(&["up"]).unwrap().request_timeout, None);
        assert_eq!(up.tls, None);
    }

    #[test]
    fn tls_needs_both_files() {
        let up = parse(&["up", "--tls-cert", "c.pem", "--tls-key=k.pem"]).unwrap();
        assert_eq!(
            up.tls,
            Some(Tls {
                cert: PathBuf::from("c.pem"),
                key: PathBuf::from("k.pem")
            })
        );
        let err = parse(&["up", "--tls-cert", "c.pem"]).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("the argument '--tls-cert' requires '--tls-key'"));
        let err = parse(&["up", "--tls-key", "k.pem"]).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("the argument '--tls-key' requires '--tls-cert'"));
    }

    #[test]
    fn later_variable_wins_and_defaults_apply() {
        let up = parse(&["up", "--variable", "a=1", "--variable", "a=2"]).unwrap();
        assert_eq!(up.variables["a"], "2");
        assert_eq!(up.from, PathBuf::from("."));
        assert_eq!(up.listen.port(), 3000);
    }

    #[test]
    fn refuses_the_reuse_flags_no_scenario_sets() {
        for flag in reuse::UNSUPPORTED_FLAGS {
            let err = parse(&["up", flag, "1"]).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("'{flag}' is not supported by the test host")),
                "{err}"
            );
        }
        let err = parse(&["up", "--disable-cache"]).unwrap_err().to_string();
        assert!(err.contains("caches compiled components"), "{err}");
        let err = parse(&["up", "--request-timeout", "500ms"]).unwrap_err();
        assert!(err.to_string().starts_with(
            "invalid value '500ms' for '--request-timeout': expected integer or range"
        ));
        assert!(parse(&["up", "--request-timeout"]).is_err());
    }

    #[test]
    fn rejects_what_it_does_not_know() {
        assert!(parse(&["up", "--follow", "x"])
            .unwrap_err()
            .to_string()
            .contains("unexpected argument '--follow'"));
        assert!(parse(&["build"]).is_err());
        assert!(parse(&["up", "--listen"])
            .unwrap_err()
            .to_string()
            .contains("a value is required"));
        assert!(parse(&["up", "--variable", "novalue"]).is_err());
        assert!(parse(&["up", "--listen", "nope"]).is_err());
    }
}
