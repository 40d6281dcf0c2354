//! `scripts/up.sh`, the README's run command, run as a user runs it: with a stand-in `spin` of
//! each generation (the build and flags it is asked to run, recorded), and with every runtime the
//! suite found (no Spin CLI: the test host; `SPIN_BIN`, `SPIN40_BIN`, `SPIN3_BIN`: that Spin),
//! where `/` and `/count` must answer exactly, over HTTP and over HTTPS (`TLS_CERT`, `TLS_KEY`),
//! and a SIGTERM to the script must stop the app. On the test host's trials the script runs the
//! test host this suite was built with (`SPIN_TEST_HOST`) instead of building its own.

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
use crate::support::http::{self, Method, Reply};
use crate::support::https;
use crate::support::redis_server::{RedisOptions, RedisServer};
use crate::support::runtime::Discovery;
use crate::support::tls::{self, ServerCert};
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
    let tls_files = Trial::test("up_script::refuses_tls_files_it_cannot_read", || {
        let _shared = crate::ALONE.read().unwrap_or_else(PoisonError::into_inner);
        refuses_tls_files_it_cannot_read();
        Ok(())
    });
    let password = Trial::test("up_script::uses_a_redis_that_wants_a_password", || {
        let _shared = crate::ALONE.read().unwrap_or_else(PoisonError::into_inner);
        uses_a_redis_that_wants_a_password();
        Ok(())
    });
    let runtimes = discovery.runtimes.iter().flat_map(|runtime| {
        // On the test host's trial no Spin is found, so up.sh falls back to the test host.
        let spin = match runtime.name {
            "test-host" => "/nonexistent/spin".to_string(),
            _ => runtime.bin.display().to_string(),
        };
        [
            ("serves_and_stops", false),
            ("serves_https_and_stops", true),
        ]
        .map(|(name, https)| {
            let spin = spin.clone();
            Trial::test(format!("up_script::{name} [{}]", runtime.name), move || {
                // Like every scenario: never beside one that times replies.
                let _shared = crate::ALONE.read().unwrap_or_else(PoisonError::into_inner);
                serves_and_stops(&spin, https);
                Ok(())
            })
        })
    });
    stand_ins
        .into_iter()
        .chain([tls_files, password])
        .chain(runtimes)
        .collect()
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

/// up.sh with `SPIN_BIN` naming `spin`, serving on `listen`, counting in `redis`, with `env`
/// added, in a process group of its own (as a terminal would start it), its output in `log`.
fn start_up_script(
    spin: &str,
    listen: &str,
    redis: &RedisServer,
    log: &Path,
    env: &[(&str, &Path)],
) -> Script {
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
        .env_remove("TLS_CERT")
        .env_remove("TLS_KEY")
        .envs(env.iter().copied())
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

    let mut script = start_up_script(
        &spin.display().to_string(),
        "127.0.0.1:5999",
        &redis,
        &log,
        &[],
    );

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

/// A stand-in Spin that records its arguments, for the trials that must not get as far as it.
fn recording_stand_in(dir: &Path) -> (String, std::path::PathBuf) {
    let spin = dir.join("spin");
    let record = dir.join("asked");
    fs::write(
        &spin,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'spin 4.2.1 (0000000 2026-10-01)'; \
             exit 0; fi\nprintf '%s\\n' \"$@\" > '{}'\n",
            record.display()
        ),
    )
    .expect("write the stand-in");
    fs::set_permissions(&spin, fs::Permissions::from_mode(0o755)).expect("make it runnable");
    (spin.display().to_string(), record)
}

fn refuses_tls_files_it_cannot_read() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (spin, record) = recording_stand_in(dir.path());
    let files = tls::write(dir.path(), ServerCert::Valid);
    let missing = dir.path().join("missing.pem");
    let redis = RedisServer::start();
    let cases: [(&[(&str, &Path)], String); 4] = [
        (
            &[("TLS_CERT", &files.cert)],
            "error: TLS_CERT and TLS_KEY go together (a PEM certificate and its PKCS#8 key); \
             TLS_KEY is not set."
                .to_string(),
        ),
        (
            &[("TLS_KEY", &files.key)],
            "error: TLS_CERT and TLS_KEY go together (a PEM certificate and its PKCS#8 key); \
             TLS_CERT is not set."
                .to_string(),
        ),
        (
            &[("TLS_CERT", &files.cert), ("TLS_KEY", &missing)],
            format!(
                "error: TLS_KEY={} is not a readable file.",
                missing.display()
            ),
        ),
        (
            &[("TLS_CERT", dir.path()), ("TLS_KEY", &files.key)],
            format!(
                "error: TLS_CERT={} is not a readable file.",
                dir.path().display()
            ),
        ),
    ];
    for (env, says) in cases {
        let log = dir.path().join("up.log");
        let mut script = start_up_script(&spin, "127.0.0.1:5999", &redis, &log, env);
        let status = wait_exit(&mut script, Duration::from_secs(30));
        let output = fs::read_to_string(&log).unwrap_or_default();
        assert_eq!(status.code(), Some(2), "{env:?}: {output}");
        // Refused before anything starts: no Spin asked, no Redis looked for.
        assert_eq!(output.trim_end(), says, "{env:?}");
        assert!(!record.exists(), "{env:?}: up.sh ran Spin: {output}");
    }
}

/// A Redis that answers `NOAUTH` is a Redis: up.sh uses it (and starts none beside it), says
/// that it wants a password when none is given, and never shows the one given.
fn uses_a_redis_that_wants_a_password() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (spin, record) = recording_stand_in(dir.path());
    let redis = RedisServer::start_with(RedisOptions {
        requirepass: Some("s3cret".into()),
        ..RedisOptions::default()
    });
    let using = format!(
        "==> using the Redis already answering on 127.0.0.1:{}",
        redis.port
    );
    let wants = "    It wants a password: SPIN_VARIABLE_REDIS_PASSWORD=... scripts/up.sh";
    let password = Path::new("s3cret");
    for (env, hint) in [
        (&[][..], true),
        (&[("SPIN_VARIABLE_REDIS_PASSWORD", password)][..], false),
    ] {
        let _ = fs::remove_file(&record);
        let log = dir.path().join("up.log");
        let mut script = start_up_script(&spin, "127.0.0.1:5999", &redis, &log, env);
        let status = wait_exit(&mut script, Duration::from_secs(60));
        let output = fs::read_to_string(&log).unwrap_or_default();
        assert!(
            status.success(),
            "{env:?}: up.sh failed ({status}): {output}"
        );
        let lines: Vec<&str> = output.lines().collect();
        assert!(lines.contains(&using.as_str()), "{env:?}: {output}");
        assert_eq!(lines.contains(&wants), hint, "{env:?}: {output}");
        assert!(
            !output.contains("starting redis-server"),
            "{env:?}: {output}"
        );
        assert!(
            !output.contains("s3cret"),
            "{env:?}: the password shown: {output}"
        );
        assert!(record.exists(), "{env:?}: up.sh did not run Spin: {output}");
    }
}

fn serves_and_stops(spin: &str, over_https: bool) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let redis = RedisServer::start();
    let listen = format!("127.0.0.1:{}", free_port());
    let port: u16 = listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    let log = dir.path().join("up.log");
    let files = tls::write(dir.path(), ServerCert::Valid);
    let env: &[(&str, &Path)] = match over_https {
        true => &[("TLS_CERT", &files.cert), ("TLS_KEY", &files.key)],
        false => &[],
    };
    let mut script = start_up_script(spin, &listen, &redis, &log, env);
    let output = || fs::read_to_string(&log).unwrap_or_default();

    // The first run may build (the .wasm is built already; `spin build` checks it).
    let agent = http::agent(Duration::from_secs(5));
    let client = https::connector(&files.ca);
    let get = |path: &str| -> Result<Reply, String> {
        match over_https {
            true => https::get(&client, port, "127.0.0.1", path),
            false => http::send(&agent, Method::Get, &format!("http://{listen}{path}"))
                .map_err(|e| e.to_string()),
        }
    };
    let welcome = wait_for("the app to answer GET /", Duration::from_secs(300), || {
        if let Ok(Some(status)) = script.0.try_wait() {
            panic!("up.sh exited ({status}) before serving: {}", output());
        }
        get("/").ok()
    })
    .unwrap_or_else(|e| panic!("{e}: {}", output()));
    let scheme = if over_https { "https" } else { "http" };
    let says = format!("==> building and serving on {scheme}://{listen}");
    assert!(
        output().lines().any(|l| l == says),
        "no `{says}`: {}",
        output()
    );
    welcome.assert_text(200, WELCOME);
    let count = get("/count").expect("GET /count");
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
