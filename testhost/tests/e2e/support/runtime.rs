//! Which programs can run the app: always the test host built with this crate, and a real Spin
//! CLI when `SPIN_BIN` names one or `spin` on PATH is one. Both take the same `up` command line.

use std::env;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A program that runs the app with `up --from ... --listen ...`.
#[derive(Clone, Debug)]
pub struct Runtime {
    /// Short name used in test names: `test-host` or `spin`.
    pub name: &'static str,
    pub bin: PathBuf,
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// The runtimes to run every scenario on, and one line saying what was found.
pub struct Discovery {
    pub runtimes: Vec<Runtime>,
    pub summary: String,
}

pub fn discover() -> Result<Discovery, String> {
    let host = Runtime {
        name: "test-host",
        bin: PathBuf::from(env!("CARGO_BIN_EXE_spin-test-host")),
    };
    let spin = match env::var_os("SPIN_BIN").filter(|v| !v.is_empty()) {
        Some(bin) => {
            let bin = PathBuf::from(bin);
            let version = spin_version(&bin).ok_or_else(|| {
                format!(
                    "SPIN_BIN={} is not a runnable Spin CLI (`{} --version` did not print `spin <version>`)",
                    bin.display(),
                    bin.display()
                )
            })?;
            Some((bin, version))
        }
        None => find_on_path("spin").and_then(|bin| spin_version(&bin).map(|v| (bin, v))),
    };
    let mut runtimes = vec![host];
    let summary = match spin {
        Some((bin, version)) => {
            let line = format!(
                "e2e: runtimes: test-host and real Spin ({version} at {})",
                bin.display()
            );
            runtimes.push(Runtime { name: "spin", bin });
            line
        }
        None => "e2e: runtimes: test-host only; real Spin not found (set SPIN_BIN=/path/to/spin \
                 or put `spin` on PATH to run every scenario on real Spin too)"
            .to_string(),
    };
    Ok(Discovery { runtimes, summary })
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `spin --version` prints `spin 4.0.2 (...)`; anything else (e.g. the SPIN model checker that
/// Debian also installs as `spin`) is not the Spin CLI.
fn spin_version(bin: &Path) -> Option<String> {
    let out = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next()?.trim();
    (out.status.success() && first.starts_with("spin ")).then(|| first.to_string())
}
