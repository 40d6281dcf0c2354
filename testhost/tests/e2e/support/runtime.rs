//! Which programs run which edition of the app: the test host built with this crate runs both;
//! a real Spin CLI named by `SPIN_BIN` (or `spin` on PATH) runs both when it is Spin 4 and the
//! portable one when it is Spin 3; `SPIN3_BIN` names a Spin 3 for the portable edition. They all
//! take the same `up` command line.

use std::env;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::repo_root;

/// One of the component's two editions, each with its manifest and `.wasm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edition {
    /// spin-sdk 6, WASIp3, instances reused: `spin.toml` at the root. Needs Spin 4.
    Spin4,
    /// spin-sdk 5.2, WASIp2, a fresh instance per request: `portable/spin.toml`.
    Portable,
}

impl Edition {
    pub const ALL: [Edition; 2] = [Edition::Spin4, Edition::Portable];

    /// The edition's manifest, exactly as users run it.
    pub fn manifest(self) -> PathBuf {
        match self {
            Edition::Spin4 => repo_root().join("spin.toml"),
            Edition::Portable => repo_root().join("portable/spin.toml"),
        }
    }

    /// The component its manifest's `source` names (built before the suite runs).
    pub fn wasm(self) -> PathBuf {
        let name = match self {
            Edition::Spin4 => "spin_redis_counter.wasm",
            Edition::Portable => "spin_redis_counter_portable.wasm",
        };
        repo_root().join("target/wasm32-wasip1/release").join(name)
    }

    /// `source = "..."` as the manifest spells it.
    pub fn source_line(self) -> String {
        let prefix = match self {
            Edition::Spin4 => "",
            Edition::Portable => "../",
        };
        let file = self.wasm();
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        format!("source = \"{prefix}target/wasm32-wasip1/release/{name}\"")
    }
}

impl fmt::Display for Edition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Edition::Spin4 => "spin4",
            Edition::Portable => "portable",
        })
    }
}

/// A program that runs the app with `up --from ... --listen ...`, and the editions it can run.
#[derive(Clone, Debug)]
pub struct Runtime {
    /// Short name used in test names: `test-host`, `spin` or `spin3`.
    pub name: &'static str,
    pub bin: PathBuf,
    pub editions: Vec<Edition>,
}

/// What one trial runs on: a runtime and an edition, shown as `test-host/spin4`.
#[derive(Clone, Debug)]
pub struct Target {
    pub runtime: Runtime,
    pub edition: Edition,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.runtime.name, self.edition)
    }
}

/// The runtimes to run every scenario on, and one line saying what was found.
pub struct Discovery {
    pub runtimes: Vec<Runtime>,
    pub summary: String,
}

impl Discovery {
    /// Every runtime with every edition it runs.
    pub fn targets(&self) -> Vec<Target> {
        self.runtimes
            .iter()
            .flat_map(|runtime| {
                runtime.editions.iter().map(|&edition| Target {
                    runtime: runtime.clone(),
                    edition,
                })
            })
            .collect()
    }
}

/// The test host always; `SPIN_BIN` (else `spin` on PATH) when it is a Spin CLI, running both
/// editions on Spin 4 and the portable one on Spin 3; `SPIN3_BIN`, which must be a Spin 3, for
/// the portable edition.
pub fn discover() -> Result<Discovery, String> {
    let mut runtimes = vec![Runtime {
        name: "test-host",
        bin: PathBuf::from(env!("CARGO_BIN_EXE_spin-test-host")),
        editions: Edition::ALL.to_vec(),
    }];
    let mut found = vec!["test-host".to_string()];
    let spin = match named_by("SPIN_BIN")? {
        Some(named) => Some(named),
        None => find_on_path("spin").and_then(|bin| spin_version(&bin).map(|v| (bin, v))),
    };
    match spin {
        Some((bin, version)) => {
            let editions = if version.starts_with("spin 3.") {
                vec![Edition::Portable]
            } else {
                Edition::ALL.to_vec()
            };
            found.push(describe("spin", &version, &bin, &editions));
            runtimes.push(Runtime {
                name: "spin",
                bin,
                editions,
            });
        }
        None => found.push(
            "no real Spin (set SPIN_BIN=/path/to/spin or put `spin` on PATH to run every \
             scenario on real Spin too)"
                .to_string(),
        ),
    }
    if let Some((bin, version)) = named_by("SPIN3_BIN")? {
        if !version.starts_with("spin 3.") {
            return Err(format!(
                "SPIN3_BIN={} is {version}, not a Spin 3",
                bin.display()
            ));
        }
        let editions = vec![Edition::Portable];
        found.push(describe("spin3", &version, &bin, &editions));
        runtimes.push(Runtime {
            name: "spin3",
            bin,
            editions,
        });
    }
    let summary = format!("e2e: runtimes: {}", found.join("; "));
    Ok(Discovery { runtimes, summary })
}

fn describe(name: &str, version: &str, bin: &Path, editions: &[Edition]) -> String {
    let editions: Vec<String> = editions.iter().map(Edition::to_string).collect();
    format!(
        "{name} = real Spin ({version} at {}, editions {})",
        bin.display(),
        editions.join(" and ")
    )
}

/// The Spin CLI an environment variable names, if set; an error if it names no Spin CLI.
fn named_by(variable: &str) -> Result<Option<(PathBuf, String)>, String> {
    let Some(bin) = env::var_os(variable).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let bin = PathBuf::from(bin);
    match spin_version(&bin) {
        Some(version) => Ok(Some((bin, version))),
        None => Err(format!(
            "{variable}={} is not a runnable Spin CLI (`{} --version` did not print `spin <version>`)",
            bin.display(),
            bin.display()
        )),
    }
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
