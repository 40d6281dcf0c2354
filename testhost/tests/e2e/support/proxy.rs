//! The compose `wasm` profile's reverse proxy, for real: Debian's `nginx` running the
//! repository's `deploy/compose/nginx.conf`, with only its upstream (`server app:80;`, compose's
//! DNS name for every replica) and its `listen 80;` pointed at loopback ports, and its `include`
//! at a directory of its own: empty, or holding `deploy/compose/tls.conf` (HTTPS on a second
//! port, with a certificate from `support::tls`) as `deploy/compose/tls.yaml` mounts it. Its
//! access log says which replica answered each request, and every replica it tried.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::http::{self, Method, Reply};
use super::https;
use super::tls::{self, ServerCert};
use super::{free_port, repo_root, wait_for};

const CONFIG: &str = "deploy/compose/nginx.conf";
const UPSTREAM: &str = "server app:80;";
const LISTEN: &str = "listen 80;";
const INCLUDE: &str = "include /etc/nginx/counter.d/*.conf;";
/// The TLS half of the server, and what in it names the container's port and files.
const TLS_CONFIG: &str = "deploy/compose/tls.conf";
const TLS_LISTEN: &str = "listen 443 ssl;";
const TLS_DIR: &str = "/etc/nginx/tls/";

pub struct Proxy {
    child: Option<Child>,
    pub port: u16,
    /// The HTTPS port, when started with [`Proxy::start_with_tls`].
    tls_port: Option<u16>,
    dir: TempDir,
    agent: ureq::Agent,
}

impl Proxy {
    /// Starts nginx in front of the apps on `ports` and waits until it answers.
    pub fn start(ports: &[u16]) -> Proxy {
        Self::launch(ports, false)
    }

    /// As [`Proxy::start`], with `deploy/compose/tls.conf` included and a fresh certificate for
    /// 127.0.0.1 and localhost, signed by a private CA ([`Proxy::ca`]).
    pub fn start_with_tls(ports: &[u16]) -> Proxy {
        Self::launch(ports, true)
    }

    fn launch(ports: &[u16], with_tls: bool) -> Proxy {
        let dir = tempfile::Builder::new()
            .prefix("e2e-proxy-")
            .tempdir()
            .expect("create a temp dir for the proxy");
        let port = free_port();
        let servers: Vec<String> = ports
            .iter()
            .map(|p| format!("server 127.0.0.1:{p};"))
            .collect();
        let included = dir.path().join("counter.d");
        fs::create_dir(&included).expect("create the proxy's include directory");
        let tls_port = with_tls.then(|| {
            let tls_port = free_port();
            let certs = dir.path().join("tls");
            fs::create_dir(&certs).expect("create the proxy's certificate directory");
            tls::write(&certs, ServerCert::Valid);
            let config = tls_pointed_at(
                &format!("listen 127.0.0.1:{tls_port} ssl;"),
                &format!("{}/", certs.display()),
            );
            fs::write(included.join("tls.conf"), config).expect("write the proxy's tls.conf");
            tls_port
        });
        let config = pointed_at(
            &servers.join(" "),
            &format!("listen 127.0.0.1:{port};"),
            &format!("include {}/*.conf;", included.display()),
        );
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
            tls_port,
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

    /// The private CA that signed the HTTPS port's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("tls/ca.pem")
    }

    fn tls_port(&self) -> u16 {
        self.tls_port.expect("the proxy was started with TLS")
    }

    /// `GET path` over HTTPS to `name` (its SNI and the name the certificate must hold),
    /// trusting only the CA in `ca`.
    pub fn https_get(&self, name: &str, path: &str, ca: &Path) -> Result<Reply, String> {
        https::get(&https::connector(ca), self.tls_port(), name, path)
    }

    /// What the HTTPS port answers a plain-HTTP `GET path` with, read until nginx closes the
    /// connection (empty if it closed without a word), and how long that took.
    pub fn plain_http_to_tls_port(&self, path: &str) -> (String, Duration) {
        let start = Instant::now();
        let mut stream = https::connect(self.tls_port())
            .unwrap_or_else(|e| panic!("connect to the HTTPS port: {e}"));
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .expect("send plain HTTP to the HTTPS port");
        let mut raw = Vec::new();
        // A reset or the read timeout ends it too; the caller judges what arrived and when.
        let _ = stream.read_to_end(&mut raw);
        (String::from_utf8_lossy(&raw).into_owned(), start.elapsed())
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

/// The repository's nginx.conf with its one upstream, listen and include lines replaced.
fn pointed_at(servers: &str, listen: &str, include: &str) -> String {
    let config = read_once(CONFIG, &[UPSTREAM, LISTEN, INCLUDE]);
    config
        .replace(UPSTREAM, servers)
        .replace(LISTEN, listen)
        .replace(INCLUDE, include)
}

/// The repository's tls.conf with its listen line and its certificates' directory replaced.
fn tls_pointed_at(listen: &str, certs: &str) -> String {
    let config = read_once(TLS_CONFIG, &[TLS_LISTEN]);
    assert_eq!(
        config.matches(TLS_DIR).count(),
        2,
        "{TLS_CONFIG} must name server.pem and server.key in {TLS_DIR}"
    );
    config.replace(TLS_LISTEN, listen).replace(TLS_DIR, certs)
}

/// A file of the repository that must hold each of `lines` exactly once.
fn read_once(relative: &str, lines: &[&str]) -> String {
    let path = repo_root().join(relative);
    let config = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {relative}: {e}"));
    for line in lines {
        let found = config.lines().filter(|l| l.trim() == *line).count();
        assert_eq!(found, 1, "{relative} must hold `{line}` exactly once");
    }
    config
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
