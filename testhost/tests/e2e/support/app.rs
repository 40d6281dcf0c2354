//! One app process (test host or real Spin, either edition) started exactly as a user would:
//! `<bin> up --from spin.toml --listen 127.0.0.1:PORT --variable k=v ... [--runtime-config-file F]
//! --state-dir DIR`, with its own temp dir for logs and state, ready once `/healthz` answers.
//! It checks, on every reply and at teardown, that the Redis password never leaks.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use tempfile::TempDir;

use super::http::{self, Method, Reply};
use super::https;
use super::redis_server::RedisServer;
use super::runtime::Target;
use super::tls::TlsFiles;
use super::{free_port, wait_for};

/// First start compiles the component; on two busy cores that can take a while.
const READY_DEADLINE: Duration = Duration::from_secs(90);
/// Any single request in the suite answers well within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How to start an app: manifest, variables, runtime config, state dir.
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// `None`: the edition's own manifest.
    manifest: Option<PathBuf>,
    variables: Vec<(String, String)>,
    runtime_config: Option<String>,
    state_dir: Option<PathBuf>,
    env: Vec<(String, PathBuf)>,
    args: Vec<String>,
    /// Served over HTTPS with these files (`--tls-cert`, `--tls-key`).
    tls: Option<TlsFiles>,
}

impl AppOptions {
    /// The edition's real manifest with every variable at its default.
    pub fn new() -> AppOptions {
        AppOptions {
            manifest: None,
            variables: Vec::new(),
            runtime_config: None,
            state_dir: None,
            env: Vec::new(),
            args: Vec::new(),
            tls: None,
        }
    }

    /// `redis` mode against a test Redis.
    pub fn on(redis: &RedisServer) -> AppOptions {
        AppOptions::new()
            .var("redis_host", "127.0.0.1")
            .var("redis_port", &redis.port.to_string())
    }

    /// `kv` mode with the `default` store mapped to a test Redis by the runtime config.
    pub fn kv_on(redis: &RedisServer) -> AppOptions {
        AppOptions::new()
            .var("counter_store", "kv")
            .runtime_config(&format!(
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{}\"\n",
                redis.port
            ))
    }

    /// `kv` mode on the runtime's built-in store, kept in `state_dir`.
    pub fn kv_builtin(state_dir: &Path) -> AppOptions {
        AppOptions::new()
            .var("counter_store", "kv")
            .state_dir(state_dir)
    }

    /// `--variable name=value` (later ones win, as on Spin's command line).
    pub fn var(mut self, name: &str, value: &str) -> AppOptions {
        self.variables.push((name.to_string(), value.to_string()));
        self
    }

    /// A runtime config file with this content.
    pub fn runtime_config(mut self, toml: &str) -> AppOptions {
        self.runtime_config = Some(toml.to_string());
        self
    }

    pub fn manifest(mut self, path: &Path) -> AppOptions {
        self.manifest = Some(path.to_path_buf());
        self
    }

    /// A state dir that outlives the app (for restarts); by default each app gets a fresh one.
    pub fn state_dir(mut self, dir: &Path) -> AppOptions {
        self.state_dir = Some(dir.to_path_buf());
        self
    }

    /// A flag of `up` with its value, e.g. `--request-timeout 2`.
    pub fn flag(mut self, flag: &str, value: &str) -> AppOptions {
        self.args.extend([flag.to_string(), value.to_string()]);
        self
    }

    /// HTTPS with this server certificate and key, as `spin up --tls-cert --tls-key` serves it.
    pub fn https(mut self, files: &TlsFiles) -> AppOptions {
        self.tls = Some(files.clone());
        let (cert, key) = (files.cert.display(), files.key.display());
        self.flag("--tls-cert", &cert.to_string())
            .flag("--tls-key", &key.to_string())
    }

    /// An environment variable naming a file for the app process, e.g. `SSL_CERT_FILE`.
    pub fn env_file(mut self, name: &str, path: &Path) -> AppOptions {
        self.env.push((name.to_string(), path.to_path_buf()));
        self
    }

    /// Values that must never appear in a reply or a log.
    fn secrets(&self) -> Vec<String> {
        self.variables
            .iter()
            .filter(|(name, value)| name == "redis_password" && !value.is_empty())
            .map(|(_, value)| value.clone())
            .collect()
    }
}

pub struct App {
    target: Target,
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
    state_dir: PathBuf,
    secrets: Vec<String>,
    agent: ureq::Agent,
    /// For an app served over HTTPS: a client that trusts its CA.
    https: Option<native_tls::TlsConnector>,
}

impl App {
    /// Starts the app and waits until `GET /healthz` answers 200 `ok`.
    pub fn start(target: &Target, opts: &AppOptions) -> App {
        let dir = tempfile::Builder::new()
            .prefix("e2e-app-")
            .tempdir()
            .expect("create a temp dir for the app");
        let state_dir = opts
            .state_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("state"));
        fs::create_dir_all(&state_dir).expect("create the app's state dir");
        let mut app = App {
            target: target.clone(),
            child: None,
            port: 0,
            dir,
            state_dir,
            secrets: opts.secrets(),
            agent: http::agent(REQUEST_TIMEOUT),
            https: opts.tls.as_ref().map(|files| https::connector(&files.ca)),
        };
        let mut last_error = String::new();
        for _ in 0..3 {
            match app.spawn(opts) {
                Ok(()) => return app,
                Err(e) if e.contains("in use") => last_error = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("could not start the app on a free port: {last_error}");
    }

    fn spawn(&mut self, opts: &AppOptions) -> Result<(), String> {
        self.port = free_port();
        let stdout = File::create(self.stdout_path()).expect("create the app's stdout log");
        let stderr = File::create(self.stderr_path()).expect("create the app's stderr log");
        let manifest = match &opts.manifest {
            Some(path) => path.clone(),
            None => self.target.edition.manifest(),
        };
        let mut cmd = Command::new(&self.target.runtime.bin);
        cmd.arg("up")
            .arg("--from")
            .arg(manifest)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port));
        for (name, value) in &opts.variables {
            cmd.arg("--variable").arg(format!("{name}={value}"));
        }
        if let Some(toml) = &opts.runtime_config {
            let path = self.dir.path().join("runtime-config.toml");
            fs::write(&path, toml).expect("write the runtime config");
            cmd.arg("--runtime-config-file").arg(path);
        }
        cmd.arg("--state-dir").arg(&self.state_dir);
        cmd.args(&opts.args);
        // Only the settings given here: no SPIN_VARIABLE_*, runtime config or log dir from the
        // caller's environment (Spin reads all three), and a working directory without a `.env`.
        for (key, _) in std::env::vars_os() {
            let name = key.to_string_lossy();
            if name.starts_with("SPIN_VARIABLE_")
                || name == "RUNTIME_CONFIG_FILE"
                || name == "SPIN_LOG_DIR"
            {
                cmd.env_remove(&key);
            }
        }
        cmd.envs(opts.env.iter().map(|(name, path)| (name, path)));
        cmd.current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        // Its own process group, so teardown also reaches anything it spawns.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.target.runtime.bin.display()))?;
        self.child = Some(child);

        let url = self.url("/healthz");
        let probe = http::agent(Duration::from_secs(2));
        // Up once it answers, whatever its certificate is worth: the scenario judges that.
        let tls_probe = self.https.as_ref().map(|_| {
            native_tls::TlsConnector::builder()
                .danger_accept_invalid_certs(true)
                .build()
                .expect("a TLS connector")
        });
        let ready = wait_for(
            &format!("{} to answer GET /healthz", self.target),
            READY_DEADLINE,
            || {
                if let Some(status) = self.child.as_mut()?.try_wait().ok().flatten() {
                    return Some(Err(format!("exited with {status}")));
                }
                let answer = match &tls_probe {
                    Some(tls) => https::get(tls, self.port, "127.0.0.1", "/healthz").ok(),
                    None => http::send(&probe, Method::Get, &url).ok(),
                };
                match answer {
                    Some(r) if r.status == 200 && r.body == "ok" => Some(Ok(())),
                    _ => None,
                }
            },
        );
        match ready.and_then(|r| r) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.kill();
                Err(format!(
                    "{} did not start on port {}: {e}; its stderr:\n{}",
                    self.target,
                    self.port,
                    self.stderr()
                ))
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Sends a request; a reply that leaks the password fails the test.
    #[track_caller]
    pub fn request(&self, method: Method, path: &str) -> Reply {
        let reply = http::send(&self.agent, method, &self.url(path)).unwrap_or_else(|e| match e {
            ureq::Error::Timeout(_) => panic!(
                "{method:?} {path} on {}: no answer within {REQUEST_TIMEOUT:?}",
                self.target
            ),
            e => panic!("{method:?} {path} on {}: {e}", self.target),
        });
        for secret in &self.secrets {
            assert!(
                !reply.body.contains(secret.as_str())
                    && !reply
                        .headers
                        .iter()
                        .any(|(_, v)| v.contains(secret.as_str())),
                "the password leaked in the reply to {method:?} {path}: {reply:?}"
            );
        }
        reply
    }

    /// `GET path` over HTTPS, the certificate checked against the app's CA for `host`.
    pub fn https_get(&self, host: &str, path: &str) -> Result<Reply, String> {
        let tls = self
            .https
            .as_ref()
            .expect("an app started with AppOptions::https");
        https::get(tls, self.port, host, path)
    }

    #[track_caller]
    pub fn get(&self, path: &str) -> Reply {
        self.request(Method::Get, path)
    }

    /// `GET /count`, which must succeed; returns N.
    #[track_caller]
    pub fn count(&self) -> u64 {
        let reply = self.get("/count");
        reply.assert_plain_text();
        reply.visit_count()
    }

    fn stdout_path(&self) -> PathBuf {
        self.dir.path().join("stdout.log")
    }

    fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("stderr.log")
    }

    /// Everything the app wrote to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    /// Stops the app (SIGTERM to its process group, SIGKILL after 5 s) and checks its logs.
    pub fn stop(&mut self) {
        self.kill();
        self.check_logs();
    }

    /// Sends `signal` to the app's process group, Spin's `up` and the trigger process it runs
    /// (`SIGSTOP` stalls the app: its sockets accept, nothing answers; `SIGCONT` resumes it).
    pub fn signal(&self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("the app is running");
        // SAFETY: kill(2) on the process group we created for this child (not yet reaped).
        unsafe { libc::kill(-(child.id() as libc::pid_t), signal) };
    }

    /// `kill -9` of the app's process group: it gets no chance to finish anything.
    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = -(child.id() as libc::pid_t);
        // SAFETY: kill(2) on the process group we created for this child (not yet reaped).
        unsafe { libc::kill(group, libc::SIGTERM) };
        let exited = wait_for("the app to exit", Duration::from_secs(5), || {
            child.try_wait().ok().flatten()
        });
        // SAFETY: as above; also reaches helpers that outlived the leader.
        unsafe { libc::kill(group, libc::SIGKILL) };
        if exited.is_err() {
            let _ = child.wait();
        }
    }

    /// The password must appear in none of the app's output: stdout, stderr, Spin's log dir.
    fn check_logs(&self) {
        if self.secrets.is_empty() {
            return;
        }
        let mut files = vec![self.stdout_path(), self.stderr_path()];
        if let Ok(entries) = fs::read_dir(self.state_dir.join("logs")) {
            files.extend(entries.flatten().map(|e| e.path()));
        }
        for file in files {
            let text = String::from_utf8_lossy(&fs::read(&file).unwrap_or_default()).into_owned();
            for secret in &self.secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "the password leaked into {} of {}:\n{text}",
                    file.display(),
                    self.target
                );
            }
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.kill();
        if !thread::panicking() {
            self.check_logs();
        }
    }
}
