//! Which programs run which build of the app, each build on the Spins it is made for: the test
//! host built with this crate (it runs WASI 0.3.0 as Spin 4.1 does) runs the Spin 4.1+ build and
//! the portable one; a real Spin CLI named by `SPIN_BIN` (or `spin` on PATH) runs, by its version,
//! the Spin 4.1+ build (4.1 and newer), the Spin 4.0 build (4.0.x) or neither (3.x), and the
//! portable one; `SPIN40_BIN` names a Spin 4.0.x, `SPIN3_BIN` a Spin 3. They all take the same
//! `up` command line. `E2E_SPIN_EDITIONS` (e.g. `spin40`) overrides what `SPIN_BIN` runs, for a
//! mutation check such as the release-candidate build on a Spin 4.1.

use std::env;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::repo_root;

/// One of the component's three builds, each with its manifest and `.wasm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edition {
    /// spin-sdk 7, WASI 0.3.0, instances reused: `spin.toml` at the root. Spin 4.1 and newer.
    Spin41,
    /// The same `src/lib.rs` on spin-sdk 6, WASI 0.3.0-rc-2026-03-15: `spin40/spin.toml`. Spin
    /// 4.0.x (and containerd-shim-spin 0.25), which reuses its instances as 4.1 does the above.
    Spin40,
    /// spin-sdk 5.2, WASIp2, a fresh instance per request: `portable/spin.toml`.
    Portable,
}

impl Edition {
    pub const ALL: [Edition; 3] = [Edition::Spin41, Edition::Spin40, Edition::Portable];

    /// The builds that export a WASIp3 handler: they bound their own Redis calls and, on the
    /// Spin they are made for, keep settings and connections for the requests of an instance.
    pub fn is_wasip3(self) -> bool {
        self != Edition::Portable
    }

    /// The folder of the edition's manifest, relative to the repository root.
    fn folder(self) -> &'static str {
        match self {
            Edition::Spin41 => "",
            Edition::Spin40 => "spin40/",
            Edition::Portable => "portable/",
        }
    }

    /// The edition's manifest, exactly as users run it.
    pub fn manifest(self) -> PathBuf {
        repo_root().join(format!("{}spin.toml", self.folder()))
    }

    /// The package that builds the edition's `.wasm`.
    pub fn package(self) -> &'static str {
        match self {
            Edition::Spin41 => "spin-redis-counter",
            Edition::Spin40 => "spin-redis-counter-spin40",
            Edition::Portable => "spin-redis-counter-portable",
        }
    }

    /// The component its manifest's `source` names (built before the suite runs).
    pub fn wasm(self) -> PathBuf {
        let name = format!("{}.wasm", self.package().replace('-', "_"));
        repo_root().join("target/wasm32-wasip1/release").join(name)
    }

    /// `source = "..."` as the manifest spells it.
    pub fn source_line(self) -> String {
        let prefix = if self.folder().is_empty() { "" } else { "../" };
        let file = self.wasm();
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        format!("source = \"{prefix}target/wasm32-wasip1/release/{name}\"")
    }

    fn named(name: &str) -> Option<Edition> {
        Edition::ALL.into_iter().find(|e| e.to_string() == name)
    }
}

impl fmt::Display for Edition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Edition::Spin41 => "spin41",
            Edition::Spin40 => "spin40",
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

/// The test host always; `SPIN_BIN` (else `spin` on PATH) when it is a Spin CLI; `SPIN40_BIN`,
/// which must be a Spin 4.0.x; `SPIN3_BIN`, which must be a Spin 3. Each runs the builds made for
/// its version (see [`builds_for`]).
pub fn discover() -> Result<Discovery, String> {
    let mut runtimes = vec![Runtime {
        name: "test-host",
        bin: PathBuf::from(env!("CARGO_BIN_EXE_spin-test-host")),
        editions: vec![Edition::Spin41, Edition::Portable],
    }];
    let mut found = vec!["test-host".to_string()];
    let spin = match named_by("SPIN_BIN")? {
        Some(named) => Some(named),
        None => find_on_path("spin").and_then(|bin| spin_version(&bin).map(|v| (bin, v))),
    };
    match spin {
        Some((bin, version)) => {
            let editions = match env::var("E2E_SPIN_EDITIONS") {
                Ok(names) if !names.is_empty() => names
                    .split(',')
                    .map(|name| {
                        Edition::named(name.trim()).ok_or_else(|| {
                            format!(
                                "E2E_SPIN_EDITIONS names `{name}`: not spin41, spin40 or portable"
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?,
                _ => builds_for(&version),
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
    for (variable, name, prefix, what) in [
        ("SPIN40_BIN", "spin40", "spin 4.0.", "a Spin 4.0.x"),
        ("SPIN3_BIN", "spin3", "spin 3.", "a Spin 3"),
    ] {
        if let Some((bin, version)) = named_by(variable)? {
            if !version.starts_with(prefix) {
                return Err(format!(
                    "{variable}={} is {version}, not {what}",
                    bin.display()
                ));
            }
            let editions = builds_for(&version);
            found.push(describe(name, &version, &bin, &editions));
            runtimes.push(Runtime {
                name,
                bin,
                editions,
            });
        }
    }
    let summary = format!("e2e: runtimes: {}", found.join("; "));
    Ok(Discovery { runtimes, summary })
}

/// The builds made for a Spin of `version` (`spin 4.0.2 (...)`), as scripts/up.sh picks them:
/// 3.x runs only the portable edition (no WASIp3); 4.0.x runs the release-candidate build, which
/// it reuses; 4.1 and newer the WASI 0.3.0 build (4.1 runs the release candidate without reuse).
fn builds_for(version: &str) -> Vec<Edition> {
    if version.starts_with("spin 3.") {
        vec![Edition::Portable]
    } else if version.starts_with("spin 4.0.") {
        vec![Edition::Spin40, Edition::Portable]
    } else {
        vec![Edition::Spin41, Edition::Portable]
    }
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
