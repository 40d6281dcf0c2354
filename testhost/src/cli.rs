//! The command line: the subset of `spin up` that the tests and benchmarks use, with the
//! same flag names, so one test can start either binary.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::reuse::InstanceReuse;

pub const USAGE: &str = "usage: spin-test-host up [--from <DIR|spin.toml>] [--listen <ADDR>] \
[--variable <NAME=VALUE>]... [--runtime-config-file <FILE>] [--state-dir <DIR>] [--disable-cache] \
[--max-instance-reuse-count <N>] [--max-instance-concurrent-reuse-count <N>] \
[--request-timeout <SECONDS>] [--idle-instance-timeout <SECONDS>]";

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
    /// `--disable-cache`: compile the component even if a cached compilation exists.
    pub disable_cache: bool,
    /// How WASIp3 instances are reused (`--max-instance-reuse-count` and the like).
    pub reuse: InstanceReuse,
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
            disable_cache: false,
            reuse: InstanceReuse::default(),
        };
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
                "--disable-cache" if inline.is_none() => up.disable_cache = true,
                flag if InstanceReuse::FLAGS.contains(&flag) => up.reuse.set(flag, &value()?)?,
                other => bail!("unexpected argument '{other}'\n{USAGE}"),
            }
        }
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
            "--disable-cache",
        ])
        .unwrap();
        assert_eq!(up.from, PathBuf::from("app"));
        assert_eq!(up.listen, "127.0.0.1:5099".parse().unwrap());
        assert_eq!(up.variables["redis_port"], "6390");
        assert_eq!(up.variables["redis_key"], "a=b");
        assert_eq!(up.runtime_config_file, Some(PathBuf::from("rc.toml")));
        assert_eq!(up.state_dir.as_deref(), Some(""));
        assert!(up.disable_cache);
    }

    #[test]
    fn later_variable_wins_and_defaults_apply() {
        let up = parse(&["up", "--variable", "a=1", "--variable", "a=2"]).unwrap();
        assert_eq!(up.variables["a"], "2");
        assert_eq!(up.from, PathBuf::from("."));
        assert_eq!(up.listen.port(), 3000);
    }

    #[test]
    fn reads_spin_4_instance_reuse_flags() {
        let up = parse(&[
            "up",
            "--max-instance-reuse-count",
            "1",
            "--max-instance-concurrent-reuse-count=4",
            "--request-timeout",
            "30",
            "--idle-instance-timeout=2s",
        ])
        .unwrap();
        assert_eq!(up.reuse.max_requests, 1);
        assert_eq!(up.reuse.max_concurrent_requests, 4);
        assert_eq!(up.reuse.request_timeout, Some(Duration::from_secs(30)));
        assert_eq!(up.reuse.idle_timeout, Duration::from_secs(2));
        assert_eq!(parse(&["up"]).unwrap().reuse, InstanceReuse::default());
        let err = parse(&["up", "--idle-instance-timeout", "500ms"]).unwrap_err();
        assert!(err.to_string().starts_with(
            "invalid value '500ms' for '--idle-instance-timeout': expected integer or range"
        ));
        assert!(parse(&["up", "--max-instance-reuse-count"]).is_err());
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
