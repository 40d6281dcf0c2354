//! `scripts/up.sh`, the README's run command, run as a user runs it: with a stand-in `spin` of
//! each generation (the build and flags it is asked to run, recorded), and with every runtime the
//! suite found (no Spin CLI: the test host; `SPIN_BIN`, `SPIN40_BIN`, `SPIN3_BIN`: that Spin),
//! where `/` and `/count` must answer exactly and a SIGTERM to the script must stop the app. On
//! the test host's trial the script runs the test host this suite was built with
//! (`SPIN_TEST_HOST`) instead of building its own.

use std::fs;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::PoisonError;
use std::thread;
use std::time::{Duration, Instant};

use libtest_mimic::Trial;

use crate::scenarios::WELCOME;
use crate::support::http::{self, Method};
use crate::support::redis_server::RedisServer;
use crate::support::runtime::Discovery;
use crate::support::{free_port, repo_root, wait_for};

/// What a stand-in Spin of each version must be asked to run (after `build --from`), and the line
/// up.sh says about it.
const STAND_INS: [(&str, &str, bool, &str); 3] = [
    (
        "3.6.3",
        "portable/spin.toml",
        false,
        "the portable edition (portable/spin.toml",
    ),
    (
        "4.0.2",
        "spin40/spin.toml",
        true,
        "the build for Spin 4.0 (spin40/spin.toml",
    ),
    (
        "4.2.1",
        "spin.toml",
        true,
        "the build for Spin 4.1+ (spin.toml",
    ),
];

/// Every trial: one a stand-in version, one a runtime found.
pub fn trials(discovery: &Discovery) -> Vec<Trial> {
    let stand_ins = STAND_INS.map(|(version, manifest, timeout, says)| {
        Trial::test(
            format!("up_script::picks_the_build_for_spin_{version}"),
            move || {
                let _shared = crate::ALONE.read().unwrap_or_else(PoisonError::into_inner);
                picks_the_build(version, manifest, timeout, says);
                Ok(())
            },
        )
    });
    let runtimes = discovery.runtimes.iter().map(|runtime| {
        // On the test host's trial no Spin is found, so up.sh falls back to the test host.
        let spin = match runtime.name {
            "test-host" => "/nonexistent/spin".into(),
            _ => runtime.bin.display().to_string(),
        };
        Trial::test(
            format!("up_script::serves_and_stops [{}]", runtime.name),
            move || {
                // Like every scenario: never beside one that times replies.
                let _shared = crate::ALONE.read().unwrap_or_else(PoisonError::into_inner);
                serves_and_stops(&spin);
                Ok(())
            },
        )
    });
    stand_ins.into_iter().chain(runtimes).collect()
}

/// A running up.sh; dropped (a trial that failed) while running, it gets the SIGTERM that stops
/// it and its app, then SIGKILL.
struct Script(Child);

impl Drop for Script {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // SAFETY: kill(2) on the child we spawned and have not reaped.
            unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
            let stopped = wait_for("up.sh to stop", Duration::from_secs(15), || {
                self.0.try_wait().ok().flatten()
            });
            if stopped.is_err() {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
    }
}

/// up.sh with `SPIN_BIN` naming `spin`, serving on `listen`, counting in `redis`, in a process
/// group of its own (as a terminal would start it), its output in `log`.
fn start_up_script(spin: &str, listen: &str, redis: &RedisServer, log: &Path) -> Script {
    let log = fs::File::create(log).expect("create the log");
    let mut cmd = Command::new("bash");
    // The test host this suite was built with: building another here (a different feature set
    // from the test build's, so a whole Wasmtime) would load the machine under timed scenarios.
    cmd.arg(repo_root().join("scripts/up.sh"))
        .current_dir(repo_root())
        .env("SPIN_TEST_HOST", env!("CARGO_BIN_EXE_spin-test-host"))
        .env("SPIN_BIN", spin)
        .env("LISTEN", listen)
        .env("REDIS_PORT", redis.port.to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone the log"))
        .stderr(log)
        .process_group(0);
    Script(cmd.spawn().expect("run scripts/up.sh"))
}

fn wait_exit(script: &mut Script, within: Duration) -> ExitStatus {
    wait_for("scripts/up.sh to exit", within, || {
        script.0.try_wait().expect("wait for up.sh")
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

fn picks_the_build(version: &str, manifest: &str, request_timeout: bool, says: &str) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let spin = dir.path().join("spin");
    let record = dir.path().join("asked");
    let runtime_config = dir.path().join("runtime-config.toml");
    // It records its arguments, and a copy of the runtime config it is given (a temp file).
    fs::write(
        &spin,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'spin {version} (0000000 2026-10-01)'; \
             exit 0; fi\nprintf '%s\\n' \"$@\" > '{}'\nprev=\nfor a; do \
             [ \"$prev\" = --runtime-config-file ] && cp \"$a\" '{}'; prev=$a; done\n",
            record.display(),
            runtime_config.display()
        ),
    )
    .expect("write the stand-in");
    fs::set_permissions(&spin, fs::Permissions::from_mode(0o755)).expect("make it runnable");
    let redis = RedisServer::start();
    let log = dir.path().join("up.log");

    let mut script = start_up_script(&spin.display().to_string(), "127.0.0.1:5999", &redis, &log);

    let status = wait_exit(&mut script, Duration::from_secs(60));
    let output = fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "up.sh failed ({status}): {output}");
    let line = format!("==> spin {version} (0000000 2026-10-01): {says}");
    assert!(
        output.lines().any(|l| l.starts_with(&line)),
        "up.sh did not say `{line}`: {output}"
    );
    let asked = fs::read_to_string(&record).expect("up.sh ran the stand-in's build");
    let mut expected = vec![
        "build",
        "--from",
        manifest,
        "--up",
        "--listen",
        "127.0.0.1:5999",
    ];
    if request_timeout {
        expected.extend(["--request-timeout", "5"]);
    }
    // The Redis is not on 6379: the key-value store gets a runtime config naming its port.
    let port = format!("redis_port={}", redis.port);
    expected.extend([
        "--runtime-config-file",
        "(a copy of runtime-config.toml)",
        "--variable",
        &port,
    ]);
    let mut asked: Vec<&str> = asked.lines().collect();
    if let Some(i) = asked.iter().position(|a| *a == "--runtime-config-file") {
        if let Some(file) = asked.get_mut(i + 1) {
            *file = "(a copy of runtime-config.toml)";
        }
    }
    assert_eq!(asked, expected, "{output}");
    let copy = fs::read_to_string(&runtime_config).expect("up.sh named a runtime config");
    let url = format!("url = \"redis://127.0.0.1:{}\"", redis.port);
    assert!(
        copy.contains(&url),
        "no `{url}` in the runtime config: {copy}"
    );
}

fn serves_and_stops(spin: &str) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let redis = RedisServer::start();
    let listen = format!("127.0.0.1:{}", free_port());
    let log = dir.path().join("up.log");
    let mut script = start_up_script(spin, &listen, &redis, &log);
    let output = || fs::read_to_string(&log).unwrap_or_default();

    // The first run may build (the .wasm is built already; `spin build` checks it).
    let agent = http::agent(Duration::from_secs(5));
    let url = |path: &str| format!("http://{listen}{path}");
    let welcome = wait_for("the app to answer GET /", Duration::from_secs(300), || {
        if let Ok(Some(status)) = script.0.try_wait() {
            panic!("up.sh exited ({status}) before serving: {}", output());
        }
        http::send(&agent, Method::Get, &url("/")).ok()
    })
    .unwrap_or_else(|e| panic!("{e}: {}", output()));
    welcome.assert_text(200, WELCOME);
    let count = http::send(&agent, Method::Get, &url("/count")).expect("GET /count");
    count.assert_text(200, "Visit count: 1");
    assert_eq!(redis.get("visits").as_deref(), Some("1"));

    // SIGTERM to the script alone, as a service manager sends it: it must stop the app too.
    // SAFETY: kill(2) on the child we spawned and have not reaped.
    unsafe { libc::kill(script.0.id() as libc::pid_t, libc::SIGTERM) };
    let status = wait_exit(&mut script, Duration::from_secs(20));
    assert_eq!(status.code(), Some(143), "{status:?} {}", output());
    assert_eq!(status.signal(), None);
    let started = Instant::now();
    while TcpStream::connect(&listen).is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the app still answers on {listen} after up.sh exited: {}",
            output()
        );
        thread::sleep(Duration::from_millis(50));
    }
    let output = output();
    assert!(!output.contains("unbound variable"), "{output}");
}
