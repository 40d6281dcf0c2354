//! The `.wasm` of every build, made from the sources as they are now before any scenario runs,
//! so the suite can never pass on a component built from older code.

use std::path::Path;
use std::process::{Command, Stdio};

use libtest_mimic::Trial;

use super::repo_root;
use super::runtime::Edition;

/// `cargo build --locked --target wasm32-wasip1 --release -p ... -p ... -p ...`, the very build
/// scripts/test.sh runs (a no-op when nothing changed), into the repository's own `target/`,
/// where every manifest's `source` points whatever `CARGO_TARGET_DIR` says.
pub fn build_editions() -> Result<(), String> {
    let root = repo_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--locked",
            "--target",
            "wasm32-wasip1",
            "--release",
        ])
        .arg("--target-dir")
        .arg(root.join("target"));
    for edition in Edition::ALL {
        cmd.args(["-p", edition.package()]);
    }
    // Cargo's progress and any compiler message go to the suite's stderr, as they happen.
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("cannot run cargo to build the editions: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "building the editions' .wasm failed ({status}): {}",
            describe(&cmd, &root)
        ))
    }
}

fn describe(cmd: &Command, root: &Path) -> String {
    let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
    format!("`cargo {}` in {}", args.join(" "), root.display())
}

/// The HTTP handler each build's `.wasm` exports, as its Spins tell builds apart: WASI 0.3.0 for
/// Spin 4.1+, the release candidate for Spin 4.0.x, WASIp2 for every Spin.
const EXPORTS: [(Edition, &str); 3] = [
    (Edition::Spin41, "wasi:http/handler@0.3.0"),
    (Edition::Spin40, "wasi:http/handler@0.3.0-rc-2026-03-15"),
    (Edition::Portable, "wasi:http/incoming-handler@0.2.0"),
];

/// One trial a build: its `.wasm` names exactly the handler its Spins run, and no other (a
/// component that exports two is refused by Spin). The names are read from the component type
/// the module carries, where every import and export is spelled out.
pub fn export_checks() -> Vec<Trial> {
    EXPORTS
        .into_iter()
        .map(|(edition, export)| {
            Trial::test(
                format!("support::build::{edition}_exports_{export}"),
                move || {
                    let wasm = std::fs::read(edition.wasm())
                        .map_err(|e| format!("{}: {e}", edition.wasm().display()))?;
                    let found = handlers_named(&wasm);
                    if found == [export] {
                        Ok(())
                    } else {
                        Err(
                            format!("{edition} names the handlers {found:?}, not only {export}")
                                .into(),
                        )
                    }
                },
            )
        })
        .collect()
}

/// What the portable `.wasm` is held to: the size of the edition every Spin and Spin cloud runs,
/// which an OCI layer, a `spin registry push` and every cold start carry.
const PORTABLE_MAX_BYTES: u64 = 200_000;

/// The portable `.wasm` stays under [`PORTABLE_MAX_BYTES`].
pub fn size_check() -> Trial {
    let edition = Edition::Portable;
    Trial::test(
        format!("support::build::{edition}_is_under_{PORTABLE_MAX_BYTES}_bytes"),
        move || {
            let bytes = std::fs::metadata(edition.wasm())
                .map_err(|e| format!("{}: {e}", edition.wasm().display()))?
                .len();
            if bytes < PORTABLE_MAX_BYTES {
                Ok(())
            } else {
                Err(format!("{edition}'s .wasm is {bytes} bytes").into())
            }
        },
    )
}

/// Every distinct `wasi:http/handler@...` and `wasi:http/incoming-handler@...` in `wasm`.
fn handlers_named(wasm: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for prefix in ["wasi:http/handler@", "wasi:http/incoming-handler@"] {
        let prefix = prefix.as_bytes();
        for start in (0..wasm.len()).filter(|&i| wasm[i..].starts_with(prefix)) {
            let version = wasm[start + prefix.len()..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
                .count();
            let name = String::from_utf8_lossy(&wasm[start..start + prefix.len() + version]);
            if !found.contains(&name.to_string()) {
                found.push(name.to_string());
            }
        }
    }
    found
}
