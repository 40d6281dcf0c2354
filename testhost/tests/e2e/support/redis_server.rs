//! A private `redis-server` per test: its own free loopback port and temp dir, no RDB snapshots,
//! AOF and TLS only when the scenario asks for them. It is killed on drop; nothing else is ever
//! touched.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use tempfile::TempDir;

use super::tls::{self, ServerCert, TlsFiles};
use super::{free_port, wait_for};

/// How long a starting Redis may take to answer PING.
const START_DEADLINE: Duration = Duration::from_secs(15);

#[derive(Clone, Debug, Default)]
pub struct RedisOptions {
    /// `appendonly yes` (the AOF lives in the server's temp dir, kept across restarts).
    pub aof: bool,
    /// `appendfsync always` (implies `aof`).
    pub fsync_always: bool,
    /// `requirepass` for the default user.
    pub requirepass: Option<String>,
    /// TLS only (`--port 0 --tls-port PORT`), presenting this certificate of a private CA.
    pub tls: Option<ServerCert>,
    /// A Redis Cluster node (`--cluster-enabled yes`), its config in its temp dir.
    pub cluster: bool,
}

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
    opts: RedisOptions,
    tls: Option<TlsFiles>,
}

impl RedisServer {
    /// A plain Redis: no persistence, no password.
    pub fn start() -> RedisServer {
        RedisServer::start_with(RedisOptions::default())
    }

    pub fn start_with(opts: RedisOptions) -> RedisServer {
        let mut last_error = String::new();
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("e2e-redis-")
                .tempdir()
                .expect("create a temp dir for redis-server");
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                tls: opts.tls.map(|which| tls::write(dir.path(), which)),
                dir,
                opts: opts.clone(),
            };
            match server.spawn() {
                Ok(()) => return server,
                // Lost the race for the port: try another one.
                Err(e) if e.contains("Address already in use") => last_error = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("could not start redis-server on a free port: {last_error}");
    }

    /// Starts the server process on `self.port` in `self.dir` and waits for PING.
    fn spawn(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "redis-server already running");
        let log = self.dir.path().join("redis.log");
        let mut cmd = Command::new("redis-server");
        match &self.tls {
            None => cmd.arg("--port").arg(self.port.to_string()),
            // Clients are not asked for certificates of their own: only the server proves itself.
            Some(files) => cmd
                .args(["--port", "0", "--tls-port"])
                .arg(self.port.to_string())
                .arg("--tls-cert-file")
                .arg(&files.cert)
                .arg("--tls-key-file")
                .arg(&files.key)
                .arg("--tls-ca-cert-file")
                .arg(&files.ca)
                .args(["--tls-auth-clients", "no"]),
        };
        cmd.args(["--bind", "127.0.0.1", "--protected-mode", "yes"])
            .args(["--daemonize", "no", "--save", ""])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .args([
                "--appendonly",
                if self.opts.aof || self.opts.fsync_always {
                    "yes"
                } else {
                    "no"
                },
            ]);
        if self.opts.fsync_always {
            cmd.args(["--appendfsync", "always"]);
        }
        if let Some(pass) = &self.opts.requirepass {
            cmd.arg("--requirepass").arg(pass);
        }
        if self.opts.cluster {
            cmd.args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound => "redis-server not found on PATH: install it \
                                        (`apt-get install redis-server`) to run the end-to-end suite"
                    .to_string(),
                _ => format!("cannot start redis-server: {e}"),
            })?;
        self.child = Some(child);
        let ready = wait_for("redis-server to answer PING", START_DEADLINE, || {
            if let Some(status) = self.child.as_mut()?.try_wait().ok().flatten() {
                return Some(Err(format!("redis-server exited with {status}")));
            }
            let mut con = self.try_connect().ok()?;
            redis::cmd("PING")
                .query::<String>(&mut con)
                .ok()
                .filter(|pong| pong == "PONG")
                .map(Ok)
        });
        match ready.and_then(|r| r) {
            Ok(_) => Ok(()),
            Err(e) => {
                self.kill9();
                let log = fs::read_to_string(&log).unwrap_or_default();
                Err(format!("{e} on port {}; its log:\n{log}", self.port))
            }
        }
    }

    fn try_connect(&self) -> redis::RedisResult<redis::Connection> {
        let auth = match &self.opts.requirepass {
            Some(pass) => format!(":{}@", utf8_percent_encode(pass, NON_ALPHANUMERIC)),
            None => String::new(),
        };
        // The admin connection checks no certificate: the scenarios test the app's checks.
        let url = match self.tls {
            None => format!("redis://{auth}127.0.0.1:{}/", self.port),
            Some(_) => format!("rediss://{auth}127.0.0.1:{}/#insecure", self.port),
        };
        redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(5))
    }

    /// The private CA's certificate, for a TLS Redis.
    pub fn ca_file(&self) -> &Path {
        &self.tls.as_ref().expect("a TLS redis-server").ca
    }

    /// An admin connection (authenticated when the server has a password).
    pub fn conn(&self) -> redis::Connection {
        self.try_connect()
            .unwrap_or_else(|e| panic!("connect to the test redis on port {}: {e}", self.port))
    }

    /// Runs one command on an admin connection.
    pub fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> T {
        cmd.query(&mut self.conn())
            .unwrap_or_else(|e| panic!("redis command on port {}: {e}", self.port))
    }

    /// The raw string value of `key` (None when it does not exist).
    pub fn get(&self, key: &str) -> Option<String> {
        self.query(redis::cmd("GET").arg(key))
    }

    pub fn set(&self, key: &str, value: &str) {
        let _: () = self.query(redis::cmd("SET").arg(key).arg(value));
    }

    /// How often `command` (lower case, as `INFO commandstats` names it) ran since the server
    /// started or its statistics were reset (`CONFIG RESETSTAT`).
    pub fn calls(&self, command: &str) -> u64 {
        let stats: String = self.query(redis::cmd("INFO").arg("commandstats"));
        let line = format!("cmdstat_{command}:calls=");
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .map_or(0, |rest| {
                let calls = rest.split(',').next().unwrap_or_default();
                calls
                    .parse()
                    .unwrap_or_else(|e| panic!("{command} calls {calls:?}: {e}"))
            })
    }

    /// How many connections the server has accepted since it started (`INFO stats`
    /// `total_connections_received`), the admin connection that asks included.
    pub fn connections_received(&self) -> u64 {
        let stats: String = self.query(redis::cmd("INFO").arg("stats"));
        stats
            .lines()
            .find_map(|l| l.strip_prefix("total_connections_received:"))
            .map(|n| n.trim().parse().unwrap_or_else(|e| panic!("{n:?}: {e}")))
            .expect("INFO stats has total_connections_received")
    }

    /// A graceful stop: SIGTERM makes Redis flush and fsync its AOF before exiting.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain kill(2) on the pid of a child we spawned and have not reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let exited = wait_for("redis-server to exit", Duration::from_secs(15), || {
                child.try_wait().ok().flatten()
            });
            if exited.is_err() {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "redis-server on port {} ignored SIGTERM for 15 s",
                    self.port
                );
            }
        }
    }

    /// `kill -9`: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `kill -STOP`: Redis hangs. The kernel still accepts connections on its port, but
    /// nothing is read or answered until [`RedisServer::resume`].
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// `kill -CONT`: Redis goes on where it stopped.
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("a running redis-server");
        // SAFETY: plain kill(2) on the pid of a child we spawned and have not reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    }

    /// Starts it again on the same port with the same dir (so the same AOF).
    pub fn restart(&mut self) {
        self.spawn()
            .unwrap_or_else(|e| panic!("restart redis-server: {e}"));
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.resume();
        }
        self.kill9();
    }
}
