//! The `.wasm` of both editions, built from the sources as they are now before any scenario runs,
//! so the suite can never pass on a component built from older code.

use std::path::Path;
use std::process::{Command, Stdio};

use super::repo_root;

/// The packages whose `.wasm` the manifests run: the Spin 4 edition (spin.toml) and the portable
/// one (portable/spin.toml).
const PACKAGES: [&str; 2] = ["spin-redis-counter", "spin-redis-counter-portable"];

/// `cargo build --locked --target wasm32-wasip1 --release -p ... -p ...`, the very build
/// scripts/test.sh runs (a no-op when nothing changed), into the repository's own `target/`,
/// where both manifests' `source` points whatever `CARGO_TARGET_DIR` says.
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
    for package in PACKAGES {
        cmd.args(["-p", package]);
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
