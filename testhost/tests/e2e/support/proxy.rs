//! The compose `wasm` profile's reverse proxy, for real: Debian's `nginx` running the
//! repository's `deploy/compose/nginx.conf`, with only its upstream (`server app:80;`, compose's
//! DNS name for every replica) and its `listen 80;` pointed at loopback ports. Its access log says
//! which replica answered each request, and every replica it tried.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::http::{self, Method, Reply};
use super::{free_port, repo_root, wait_for};

const CONFIG: &str = "deploy/compose/nginx.conf";
const UPSTREAM: &str = "server app:80;";
const LISTEN: &str = "listen 80;";

pub struct Proxy {
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
    agent: ureq::Agent,
}

impl Proxy {
    /// Starts nginx in front of the apps on `ports` and waits until it answers.
    pub fn start(ports: &[u16]) -> Proxy {
        let dir = tempfile::Builder::new()
            .prefix("e2e-proxy-")
            .tempdir()
            .expect("create a temp dir for the proxy");
        let port = free_port();
        let servers: Vec<String> = ports
            .iter()
            .map(|p| format!("server 127.0.0.1:{p};"))
            .collect();
        let config = pointed_at(&servers.join(" "), &format!("listen 127.0.0.1:{port};"));
        let config_path = dir.path().join("nginx.conf");
        fs::write(&config_path, config).expect("write the proxy's config");
        let mut cmd = Command::new(nginx());
        cmd.arg("-e")
            .arg("stderr")
            .arg("-c")
            .arg(&config_path)
            .arg("-g")
            .arg(format!(
                "daemon off; pid {};",
                dir.path().join("nginx.pid").display()
            ))
            .stdin(Stdio::null())
            .stdout(File::create(dir.path().join("access.log")).expect("create the access log"))
            .stderr(File::create(dir.path().join("error.log")).expect("create the error log"));
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run nginx: {e}"));
        let mut proxy = Proxy {
            child: Some(child),
            port,
            dir,
            agent: http::agent(Duration::from_secs(30)),
        };
        let probe = http::agent(Duration::from_secs(2));
        let url = proxy.url("/healthz");
        let ready = wait_for(
            "nginx to pass GET /healthz through",
            Duration::from_secs(15),
            || {
                if let Some(status) = proxy.child.as_mut()?.try_wait().ok().flatten() {
                    return Some(Err(format!("nginx exited with {status}")));
                }
                http::send(&probe, Method::Get, &url)
                    .ok()
                    .filter(|r| r.status == 200)
                    .map(|_| Ok(()))
            },
        );
        if let Err(e) = ready.and_then(|r| r) {
            panic!(
                "the proxy did not start: {e}; its error log:\n{}",
                proxy.error_log()
            );
        }
        proxy
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    #[track_caller]
    pub fn request(&self, method: Method, path: &str) -> Reply {
        http::send(&self.agent, method, &self.url(path))
            .unwrap_or_else(|e| panic!("{method:?} {path} through the proxy: {e}"))
    }

    /// For every `GET /count` in the access log, the replicas nginx tried, in order (`upstream=`
    /// lists more than one only when it re-sent the request).
    pub fn count_attempts(&self) -> Vec<Vec<String>> {
        let log = fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        log.lines()
            .filter(|line| line.contains("\"GET /count HTTP/"))
            .map(|line| {
                let tried = line
                    .split(" upstream=")
                    .nth(1)
                    .and_then(|rest| rest.split(" upstream_status=").next())
                    .unwrap_or_else(|| panic!("no upstream in the access log line {line:?}"));
                tried.split(", ").map(str::to_string).collect()
            })
            .collect()
    }

    /// How many `GET /count` each replica was sent, by its address.
    pub fn counts_sent_to(&self) -> BTreeMap<String, u64> {
        let mut sent = BTreeMap::new();
        for replica in self.count_attempts().into_iter().flatten() {
            *sent.entry(replica).or_default() += 1;
        }
        sent
    }

    fn error_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the process group we created for nginx (master and workers).
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            let _ = child.wait();
        }
    }
}

/// The repository's nginx.conf with its one upstream line and its one listen line replaced.
fn pointed_at(servers: &str, listen: &str) -> String {
    let path = repo_root().join(CONFIG);
    let config = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {CONFIG}: {e}"));
    for line in [UPSTREAM, LISTEN] {
        let found = config.lines().filter(|l| l.trim() == line).count();
        assert_eq!(found, 1, "{CONFIG} must hold `{line}` exactly once");
    }
    config.replace(UPSTREAM, servers).replace(LISTEN, listen)
}

/// Debian's nginx: on PATH, or where the package puts it (root's PATH has /usr/sbin, others'
/// may not).
fn nginx() -> PathBuf {
    let packaged = Path::new("/usr/sbin/nginx");
    if packaged.exists() {
        return packaged.to_path_buf();
    }
    PathBuf::from("nginx")
}
