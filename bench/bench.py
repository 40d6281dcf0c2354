#!/usr/bin/env python3
"""Benchmarks the counter under wrk and prints one Markdown table; run through bench/run.sh.

Starts its own redis-server (AOF on, fsync `everysec` then `always`), the app with `spin up`'s CLI on
every runtime given (real Spins, each running the builds made for its version, or the test host when no
Spin is found) and, for comparison, seed_app.py (a stand-in for the
Flask seed service) under gunicorn with 2 and 1 workers on the same redis-server, on free loopback ports
in a temp dir, and checks after every `/count` run that the counter grew by exactly the 2xx responses
wrk saw. Exits 1 on a mismatch. Before it starts it waits for the machine to be quiet (no CPU steal, no
other load) and says in the table's header whether it was, and how much CPU was stolen during the run.
Usage: bench.py SECONDS NAME=RUNTIME_BINARY...   (NAME: spin, spin40, spin3 or test-host)
"""

import contextlib
import datetime
import functools
import importlib.metadata
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
WRK_SCRIPT = BENCH / "report.lua"
CONNECTIONS = (1, 16, 64, 256)
KEY = "visits"  # redis_key, passed to every app
DRAIN_LIMIT_S = 30  # wrk's -d is SECONDS + this: room for every connection to get its last answer
APP_START_S = 60  # Spin compiles the .wasm before it serves
REDIS_START_S = 10
SEED_WORKERS = (2, 1)  # gunicorn -w for seed_app.py; each has its own key, seed-<workers>w
SEED_START_S = 30
# A quiet machine, as /proc/stat counts it over a few seconds (steal is vmstat's `st`): at most this
# share of CPU time stolen by the hypervisor, and at most this share busy with other work. The bench
# waits up to QUIET_WAIT_S for it, then runs anyway and says so.
QUIET_STEAL = 0.01
QUIET_BUSY = 0.10
QUIET_SAMPLE_S = 5
QUIET_WAIT_S = 120
TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")


@dataclass
class Row:
    target: str
    fsync: str
    connections: int
    req_per_s: float
    p50_us: int
    p99_us: int
    max_us: int
    non_2xx: int
    socket_errors: int
    vs_root: str
    check: str
    app_cpu_us: str
    cpu_over_root_us: str
    redis_cpu_us: str
    pings_per_visit: str
    visits_per_incrby: str
    connections_per_visit: str


# The builds: name, manifest, .wasm. Each runtime runs those made for its version (see `builds_for`).
EDITIONS = {
    "spin41": (REPO / "spin.toml", REPO / "target/wasm32-wasip1/release/spin_redis_counter.wasm"),
    "spin40": (REPO / "spin40/spin.toml", REPO / "target/wasm32-wasip1/release/spin_redis_counter_spin40.wasm"),
    "portable": (REPO / "portable/spin.toml", REPO / "target/wasm32-wasip1/release/spin_redis_counter_portable.wasm"),
}
# Ratios read at 16 and 64 connections in the everysec pass, per build on every runtime that runs it:
# (build, what, numerator row, denominator row, at least at 16, at least at 64); `{}` is the build's label,
# e.g. `spin41 on 4.1.0`.
TARGETS = (
    ("spin41", "redis mode vs the 2-worker seed", "{} `/count` redis", "seed gunicorn 2 workers", 2.0, 2.0),
    ("spin41", "redis mode vs its `/`", "{} `/count` redis", "{} `/`", 0.65, 0.70),
    ("spin40", "redis mode vs the 2-worker seed", "{} `/count` redis", "seed gunicorn 2 workers", 1.6, 1.6),
    ("spin40", "redis mode vs its `/`", "{} `/count` redis", "{} `/`", 0.60, 0.60),
    ("spin40", "kv on Redis vs its `/`", "{} `/count` kv on Redis", "{} `/`", 0.80, 0.80),
    ("portable", "redis mode vs its `/`", "{} `/count` redis", "{} `/`", 0.36, 0.36),
    ("portable", "kv on Redis vs its `/`", "{} `/count` kv on Redis", "{} `/`", 0.70, 0.70),
)
TARGET_CONNECTIONS = (16, 64)
# A WASIp3 build on the Spin it is made for opens at most this many Redis connections per visit in redis
# mode (its instances keep theirs), at 16 and 64 connections.
CONNECTIONS_PER_VISIT = 0.01
# Latency: on one kept-alive connection every row's p99 (a reply that waits for the client's delayed ACK
# takes ~40 ms), redis mode's p99 at 16 connections, and a WASIp3 build's `/count` at 1 connection.
P99_ONE_CONNECTION_US = 2_000
P99_SIXTEEN_US = 5_000
ONE_CONNECTION_RPS = 2_500
ONE_CONNECTION_MAX_US = 30_000
# A WASIp3 build's Spin CPU per redis-mode `/count` over its `/`'s, at 16 and 64 connections: what the
# component and Spin's outbound Redis cost per visit.
CPU_OVER_ROOT_US = 70


@dataclass
class Runtime:
    name: str  # spin, spin40, spin3 or test-host
    binary: str
    version: str  # `spin --version`'s first line, or the test host's
    editions: list

    def label(self, edition):
        """How rows name a build on this runtime: `spin41 on 4.1.0-pre0`, `portable on test host`."""
        short = "test host" if self.name == "test-host" else self.version.split()[1]
        return f"{edition} on {short}"


def builds_for(version):
    """The builds made for a Spin of `version`, as scripts/up.sh picks them, the portable one on each."""
    if version.startswith("spin 3."):
        return ["portable"]
    if version.startswith("spin 4.0."):
        return ["spin40", "portable"]
    return ["spin41", "portable"]


def runtimes_from(arguments):
    runtimes = []
    for argument in arguments:
        name, _, binary = argument.partition("=")
        path = shutil.which(binary)
        if path is None:
            sys.exit(f"{name}={binary} is not an executable")
        path = os.path.abspath(path)  # the apps run in their own working directories
        if name == "test-host":
            # The test host runs what Spin 4.1 runs (see testhost/README.md).
            runtimes.append(Runtime(name, path, "spin-test-host", ["spin41", "portable"]))
        else:
            version = run([path, "--version"], timeout=30).strip()
            runtimes.append(Runtime(name, path, version, builds_for(version)))
    return runtimes


def main():
    seconds = int(sys.argv[1])
    runtimes = runtimes_from(sys.argv[2:])
    # SIGTERM unwinds like Ctrl-C, so every `finally` below stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bench = Bench(seconds)
    quiet = wait_for_quiet()
    stolen_from = cpu_times()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="spin-counter-bench-") as tmp:
        tmp = Path(tmp)
        for fsync in ("everysec", "always"):
            first_row = len(bench.rows)
            with contextlib.ExitStack() as stack:
                redis_port, redis_pid = stack.enter_context(redis_server(tmp / f"redis-{fsync}", fsync))
                bench.redis_pid = redis_pid
                in_redis = functools.partial(redis_counter, redis_port)
                # Redis mode's rows also count the PINGs and INCRBYs Redis served (the check of an idle
                # kept connection must add no PING under load; group commit shares one INCRBY among the
                # visits an instance serves at once); only the row's own target is loaded. Every `/count`
                # row counts the connections Redis accepted (a kept connection is not a new one).
                redis_mode_calls = functools.partial(redis_calls, redis_port, ("ping", "incrby"))
                bench.read_connections = functools.partial(redis_connections, redis_port)
                variables = {"redis_port": str(redis_port), "redis_key": KEY}
                config = tmp / f"kv-redis-{fsync}.toml"
                config.write_text(
                    f'[key_value_store.default]\ntype = "redis"\nurl = "redis://127.0.0.1:{redis_port}"\n'
                )
                # (root URL, [(target, fsync column, URL, counter reader)]) per edition; all apps run at once
                # and take turns per connection count, so a drift in the machine's load hits every row alike.
                apps = []
                for runtime, edition in ((r, e) for r in runtimes for e in r.editions):
                    label, at = runtime.label(edition), f"{runtime.name}-{edition}"
                    start = functools.partial(app, runtime.binary, EDITIONS[edition][0])
                    redis_mode = stack.enter_context(start(tmp / f"{at}-redis-{fsync}", variables))
                    kv_variables = variables | {"counter_store": "kv"}
                    kv_redis = stack.enter_context(start(tmp / f"{at}-kv-redis-{fsync}", kv_variables, config))
                    targets = [
                        (f"{label} `/count` redis", fsync, redis_mode.at("/count"), in_redis, redis_mode_calls),
                        (f"{label} `/count` kv on Redis", fsync, kv_redis.at("/count"), in_redis, None),
                    ]
                    if fsync == "everysec":
                        directory = tmp / f"{at}-kv-builtin"
                        builtin = stack.enter_context(start(directory, {"counter_store": "kv", "redis_key": KEY}))
                        in_sqlite = functools.partial(sqlite_counter, directory / "state/sqlite_key_value.db")
                        target = f"{label} `/count` kv built-in"
                        targets.append((target, "n/a (SQLite)", builtin.at("/count"), in_sqlite, None))
                    apps.append((label, redis_mode.at("/"), targets))
                seeds = []
                for workers in SEED_WORKERS:
                    key = f"seed-{workers}w"
                    seed_app = stack.enter_context(seed(tmp / f"{key}-{fsync}", redis_port, workers, key))
                    in_seed_key = functools.partial(redis_counter, redis_port, key)
                    target = f"seed gunicorn {workers} worker{'s' if workers > 1 else ''}"
                    seeds.append((target, fsync, seed_app.at("/count"), in_seed_key, None))
                for connections in CONNECTIONS:
                    for label, root_url, targets in apps:
                        root = bench.measure(root_url, f"{label} `/`", fsync, connections)
                        for target, column, url, read_counter, read_calls in targets:
                            bench.measure(url, target, column, connections, read_counter, root, read_calls)
                    for target, column, url, read_counter, read_calls in seeds:
                        bench.measure(url, target, column, connections, read_counter, read_calls=read_calls)
            order = [row for label, _, targets in apps for row in [f"{label} `/`"] + [t[0] for t in targets]]
            order += [target for target, *_ in seeds]
            bench.rows[first_row:] = sorted(
                bench.rows[first_row:], key=lambda r: (order.index(r.target), r.connections)
            )
        fs_type = filesystem_type(tmp)
    load = f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    stolen = stolen_share(stolen_from, cpu_times())
    quiet += f"; CPU steal during the run {stolen:.1%}"
    print_report(runtimes, seconds, fs_type, load, quiet, bench.rows)
    if bench.mismatches:
        print("\nCOUNTER MISMATCH: the counter did not grow by the number of 2xx responses in:", file=sys.stderr)
        for line in bench.mismatches:
            print(f"  - {line}", file=sys.stderr)
        sys.exit(1)


class Bench:
    """Runs wrk and collects the table's rows and any counter mismatch."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.rows = []
        self.mismatches = []
        self.redis_pid = None  # the redis-server of the current pass
        self.read_connections = None  # how many connections it has accepted

    def measure(self, url, target, fsync, connections, read_counter=None, root=None, read_calls=None):
        """One wrk run on url (a URL of an app, see `App.at`); read_counter() checks the counter's growth;
        root is the same app's `/` row; read_calls() counts the PINGs and INCRBYs Redis served. Returns
        the row."""
        before = read_counter() if read_counter else 0
        calls_before = read_calls() if read_calls else None
        # Read last before the run and first after it: the asking connection itself is the one more.
        connections_before = self.read_connections() if read_counter else None
        app_cpu_before, redis_cpu_before = url.app.cpu_ticks(), process_ticks(self.redis_pid)
        result = run_wrk(url.url, connections, self.seconds)
        app_cpu = url.app.cpu_ticks() - app_cpu_before
        redis_cpu = process_ticks(self.redis_pid) - redis_cpu_before
        opened = self.read_connections() - connections_before - 1 if read_counter else None
        rate = result["requests"] / result["window_s"]
        ok = result["requests"] - result["non_2xx_3xx"]
        check = "-"
        if read_counter:
            grew = read_counter() - before
            check = f"ok (+{grew})" if grew == ok else f"**MISMATCH: grew {grew}, 2xx {ok}**"
            if grew != ok:
                self.mismatches.append(f"{target}, fsync {fsync}, {connections} connections: grew {grew}, 2xx {ok}")
        pings_per_visit = visits_per_incrby = "-"
        connections_per_visit = f"{opened / max(ok, 1):.3f}" if opened is not None else "-"
        if read_calls:
            pings, incrbys = (after - before for after, before in zip(read_calls(), calls_before))
            pings_per_visit = f"{pings / max(ok, 1):.3f}"
            visits_per_incrby = f"{ok / incrbys:.2f}" if incrbys else "no INCRBY"

        def per_request(ticks):
            return ticks * TICK_US / max(result["requests"], 1)

        if result["drained"] != "true":
            check += " (not drained: req/s over wrk's -d)"
        self.rows.append(
            Row(
                target=target,
                fsync=fsync,
                connections=connections,
                req_per_s=rate,
                p50_us=result["p50_us"],
                p99_us=result["p99_us"],
                max_us=result["max_us"],
                non_2xx=result["non_2xx_3xx"],
                socket_errors=sum(result[k] for k in ("connect", "read", "write", "timeout")),
                vs_root=f"{rate / root.req_per_s:.0%}" if root else "-",
                check=check,
                app_cpu_us=f"{per_request(app_cpu):.1f}",
                cpu_over_root_us=f"{per_request(app_cpu) - float(root.app_cpu_us):+.1f}" if root else "-",
                redis_cpu_us=f"{per_request(redis_cpu):.1f}" if read_counter else "-",
                pings_per_visit=pings_per_visit,
                visits_per_incrby=visits_per_incrby,
                connections_per_visit=connections_per_visit,
            )
        )
        print(f"  {target:40} fsync {fsync:12} c={connections:<3} {rate:9.0f} req/s  {check}", file=sys.stderr)
        return self.rows[-1]


def run_wrk(url, connections, seconds):
    """Runs wrk with report.lua; once every thread has drained, SIGINT makes wrk report at once instead of
    idling to the end of its -d (which only bounds the drain)."""
    threads = 1 if connections == 1 else 2
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds + DRAIN_LIMIT_S}s", "--latency"]
    command += ["-s", str(WRK_SCRIPT), url, "--", str(seconds), str(connections // threads)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        watchdog = threading.Timer(seconds + DRAIN_LIMIT_S + 30, process.kill)
        watchdog.start()
        try:
            drained, output = 0, []
            for line in process.stdout:  # ends when wrk exits, at the latest after its -d
                output.append(line)
                drained += line.startswith("DRAINED")
                if drained == threads:
                    process.send_signal(signal.SIGINT)
        finally:
            watchdog.cancel()
    if process.returncode != 0:
        sys.exit(f"wrk failed ({process.returncode}):\n{''.join(output)}")
    line = next(line for line in output if line.startswith("BENCH "))
    fields = dict(pair.split("=", 1) for pair in line.split()[1:])
    return {k: v if k == "drained" else float(v) if k == "window_s" else int(v) for k, v in fields.items()}


@contextlib.contextmanager
def redis_server(directory, fsync):
    directory.mkdir()
    port = free_port()
    with started(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(directory),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            fsync,
        ],
        directory / "redis.log",
    ) as process:
        wait_until(REDIS_START_S, process, directory / "redis.log", lambda: redis_cli(port, "PING") == "PONG")
        yield port, process.pid


@contextlib.contextmanager
def app(runtime, manifest, directory, variables, runtime_config=None, extra_env=None):
    """Starts the app from manifest as `spin up` would, with its own state dir and extra_env; yields it as
    an `App`."""
    directory.mkdir()
    port = free_port()
    command = [runtime, "up", "--from", str(manifest), "--listen", f"127.0.0.1:{port}"]
    for name, value in variables.items():
        command += ["--variable", f"{name}={value}"]
    if runtime_config:
        command += ["--runtime-config-file", str(runtime_config)]
    command += ["--state-dir", str(directory / "state")]
    url = f"http://127.0.0.1:{port}"
    # Only the settings given here: no SPIN_VARIABLE_*, runtime config or log dir from the caller's
    # environment (Spin reads all three), and a working directory without a `.env`. No RUST_BACKTRACE
    # either: with it, Wasmtime captures a backtrace for every host call the component cancels.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SPIN_VARIABLE_")
        and name not in ("RUNTIME_CONFIG_FILE", "SPIN_LOG_DIR", "RUST_BACKTRACE", "RUST_LIB_BACKTRACE")
    } | (extra_env or {})
    with started(command, directory / "app.log", env=env, cwd=directory) as process:
        wait_until(APP_START_S, process, directory / "app.log", lambda: http_ok(url + "/healthz"))
        yield App(url, process.pid)


@contextlib.contextmanager
def seed(directory, redis_port, workers, key):
    """Starts seed_app.py under gunicorn (sync workers, as the seed ran) on redis_port, counting in key;
    yields it as an `App`."""
    directory.mkdir()
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    command += ["--chdir", str(BENCH), "seed_app:app"]
    url = f"http://127.0.0.1:{port}"
    # No GUNICORN_CMD_ARGS from the caller's environment, no gunicorn.conf.py in the working directory, and
    # no bytecode cache written into bench/.
    env = {name: value for name, value in os.environ.items() if name != "GUNICORN_CMD_ARGS"}
    env |= {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis_port), "REDIS_KEY": key}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    with started(command, directory / "seed.log", env=env, cwd=directory) as process:
        wait_until(SEED_START_S, process, directory / "seed.log", lambda: http_ok(url + "/"))
        yield App(url, process.pid)


@dataclass
class App:
    """A server under test: its base URL, and the process group `started` gave it (Spin's `up` and the
    trigger it runs, or gunicorn and its workers)."""

    base: str
    group: int

    def at(self, path):
        return Url(self, self.base + path)

    def cpu_ticks(self):
        """User + system CPU time of every process in the group so far, in clock ticks."""
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == self.group:  # pgrp
                    total += int(fields[11]) + int(fields[12])  # utime, stime
        return total

    def rss_kib(self):
        """Resident memory of every process in the group now, in KiB."""
        total = 0
        for status in Path("/proc").glob("[0-9]*/status"):
            with contextlib.suppress(OSError, ValueError):
                fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
                if os.getpgid(int(fields["Pid"])) == self.group and "VmRSS" in fields:
                    total += int(fields["VmRSS"].split()[0])
        return total


@dataclass
class Url:
    app: App
    url: str


def process_ticks(pid):
    """User + system CPU time of one process so far, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_times():
    """The machine's CPU time so far by kind (the first line of /proc/stat, which vmstat reads)."""
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    values = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    return dict(zip(names, map(int, values)))


def stolen_share(before, after):
    spent = {kind: after[kind] - before[kind] for kind in before}
    return spent["steal"] / max(sum(spent.values()), 1)


def wait_for_quiet():
    """Samples the machine until QUIET_SAMPLE_S seconds pass with little CPU stolen and little else
    running, for up to QUIET_WAIT_S; returns how quiet it was, for the table's header."""
    deadline = time.monotonic() + QUIET_WAIT_S
    while True:
        before = cpu_times()
        time.sleep(QUIET_SAMPLE_S)
        after = cpu_times()
        spent = {kind: after[kind] - before[kind] for kind in before}
        total = max(sum(spent.values()), 1)
        steal, busy = spent["steal"] / total, 1 - (spent["idle"] + spent["iowait"] + spent["steal"]) / total
        seen = f"CPU steal {steal:.1%} and {busy:.1%} busy over {QUIET_SAMPLE_S} s before the run"
        if steal <= QUIET_STEAL and busy <= QUIET_BUSY:
            return f"quiet: {seen}"
        if time.monotonic() > deadline:
            print(f"==> the machine is not quiet ({seen}); running anyway", file=sys.stderr)
            return f"**NOT QUIET** ({seen}, after waiting {QUIET_WAIT_S} s): compare ratios with care"
        print(f"==> waiting for a quiet machine: {seen}", file=sys.stderr)


@contextlib.contextmanager
def started(command, log, env=None, cwd=None):
    """Runs command in its own process group, output to log; stops the whole group on exit."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until(deadline_s, process, log, ready):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{process.args[0]} exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        if ready():
            return
        time.sleep(0.1)
    sys.exit(f"{process.args[0]} not ready after {deadline_s} s:\n{log.read_text(errors='replace')}")


def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_cli(port, *args, check=False):
    result = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=check,
    )
    return result.stdout.strip()


def redis_calls(port, commands):
    """How many times Redis has served each of `commands` (INFO commandstats), as a tuple."""
    calls = dict.fromkeys(commands, 0)
    for line in redis_cli(port, "INFO", "commandstats", check=True).splitlines():
        name, _, stats = line.removeprefix("cmdstat_").partition(":")
        if line.startswith("cmdstat_") and name in calls:
            calls[name] = int(dict(field.split("=", 1) for field in stats.split(","))["calls"])
    return tuple(calls.values())


def redis_connections(port):
    """How many connections Redis has accepted since it started (INFO stats), the asking one included."""
    stats = redis_cli(port, "INFO", "stats", check=True)
    return int(re.search(r"^total_connections_received:(\d+)", stats, re.MULTILINE).group(1))


def redis_counter(port, key=KEY):
    value = redis_cli(port, "GET", key, check=True)
    return int(value) if value else 0


def sqlite_counter(db):
    """Reads the built-in store's file directly (as Spin writes it: 8-byte little-endian integers), so the
    check does not rely on the component under test; a missing file or row is a count of 0."""
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        row = conn.execute("SELECT value FROM spin_key_value WHERE store = 'default' AND key = ?", (KEY,)).fetchone()
    return int.from_bytes(row[0], "little", signed=True) if row else 0


def run(command, timeout):
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True).stdout


def filesystem_type(path):
    """The type of the filesystem holding path (the AOF's fsync cost depends on it)."""
    best, fs_type = "", "?"
    for line in Path("/proc/mounts").read_text().splitlines():
        mount_point, kind = line.split()[1:3]
        if str(path).startswith(mount_point) and len(mount_point) > len(best):
            best, fs_type = mount_point, kind
    return fs_type


def print_report(runtimes, seconds, fs_type, load, quiet, rows):
    commit = run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], timeout=30).strip()
    names = ", ".join("the TEST HOST" if r.name == "test-host" else r.version for r in runtimes)
    title = f"spin-redis-counter on {names} (commit {commit})"
    if any(r.name == "test-host" for r in runtimes):
        manifest = tomllib.loads((REPO / "testhost/Cargo.toml").read_text())
        title += f": spin-test-host {manifest['package']['version']}'s rows are test-host figures, not Spin's"
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    redis_version = re.search(r"v=(\S+)", run(["redis-server", "--version"], timeout=30)).group(1)
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split()[1]
    print(f"\n### {title}\n")
    print(f"- machine: nproc {run(['nproc'], timeout=10).strip()}, {cpu}; 1-minute load average {load}")
    print(f"- {quiet}")
    print(f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    for runtime in runtimes:
        print(f"- {runtime.name}: {runtime.version} at {runtime.binary}, runs {' and '.join(runtime.editions)}")
    for edition in sorted({e for r in runtimes for e in r.editions}, key=list(EDITIONS).index):
        wasm = EDITIONS[edition][1]
        print(f"- {edition} .wasm: {wasm.stat().st_size:,} bytes ({wasm.relative_to(REPO)})")
    print(
        f"- tools: wrk {wrk_version}, {seconds} s per run, -t1 at 1 connection and -t2 above; "
        f"redis-server {redis_version} on loopback, AOF on {fs_type}"
    )
    versions = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in ("gunicorn", "flask", "redis"))
    print(
        f"- seed rows: bench/seed_app.py, a stand-in for the Flask seed service written for this benchmark, "
        f"on {versions} (redis-py), Python {sys.version.split()[0]}; gunicorn's default sync workers"
    )
    print(
        "- `vs /`: req/s relative to the same build's `/` on the same runtime at the same connection count in the same pass "
        "(the built-in store's `/` is the everysec one)\n"
    )
    print(
        "- `app CPU/req`, `Redis CPU/req`: user + system CPU time of the app's processes (Spin's, the test "
        "host's or gunicorn's) and of redis-server during the run, per request answered, in microseconds; "
        "`over /`: the app CPU/req minus that of the same build's `/` in the same round, what a visit costs "
        "beyond serving a reply"
    )
    print(
        "- `PINGs/visit` (redis mode): PINGs Redis served per counted visit in that run; an idle kept "
        "connection is checked with one, so under load it must stay near 0"
    )
    print(
        "- `visits/INCRBY` (redis mode): counted visits per `INCRBY` Redis served in that run, the mean batch "
        "size of group commit (a WASIp3 build's requests served at once share one; the portable "
        "edition's instance serves one request, so 1.00)"
    )
    print(
        "- `new conns/visit` (every `/count` row): connections Redis accepted per counted visit in that run; "
        "a WASIp3 build whose instances the runtime reuses keeps its connection (near 0), an instance per "
        "request opens one per visit (1.000 in redis mode)\n"
    )
    print(
        "| target | fsync | conns | req/s | p50 ms | p99 ms | max ms | non-2xx/3xx | socket errors | vs `/` "
        "| app CPU/req us | over `/` us | Redis CPU/req us | PINGs/visit | visits/INCRBY | new conns/visit | counter check |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print(
            f"| {r.target} | {r.fsync} | {r.connections} | {r.req_per_s:,.0f} | {r.p50_us / 1000:.2f} | "
            f"{r.p99_us / 1000:.2f} | {r.max_us / 1000:.2f} | {r.non_2xx} | {r.socket_errors} | {r.vs_root} | {r.app_cpu_us} "
            f"| {r.cpu_over_root_us} | {r.redis_cpu_us} | {r.pings_per_visit} | {r.visits_per_incrby} | {r.connections_per_visit} | {r.check} |"
        )
    print_targets(runtimes, rows)
    print_latency_targets(runtimes, rows)


def print_latency_targets(runtimes, rows):
    """The latency targets and the connections per visit, from the everysec pass."""
    by_row = {(r.target, r.connections): r for r in rows if r.fsync == "everysec"}
    checks = []
    for (_, connections), r in by_row.items():
        if connections == 1 and not r.target.startswith("seed"):
            checks.append((f"{r.target}: p99 at 1 connection", f"{r.p99_us / 1000:.2f} ms", r.p99_us <= P99_ONE_CONNECTION_US))
            checks.append((f"{r.target}: slowest reply at 1 connection", f"{r.max_us / 1000:.2f} ms", r.max_us <= ONE_CONNECTION_MAX_US))
    labels = [(r.label(e), e) for r in runtimes for e in r.editions]
    for label, _ in labels:
        if row := by_row.get((f"{label} `/count` redis", 16)):
            checks.append((f"{row.target}: p99 at 16 connections", f"{row.p99_us / 1000:.2f} ms", row.p99_us <= P99_SIXTEEN_US))
    for label in (label for label, edition in labels if edition != "portable"):
        if row := by_row.get((f"{label} `/count` redis", 1)):
            checks.append((f"{row.target}: req/s at 1 connection", f"{row.req_per_s:,.0f}", row.req_per_s >= ONE_CONNECTION_RPS))
        for connections in TARGET_CONNECTIONS:
            if row := by_row.get((f"{label} `/count` redis", connections)):
                over = float(row.cpu_over_root_us)
                checks.append((f"{row.target}: app CPU per visit over `/` at {connections} connections", f"{over:+.1f} us", over <= CPU_OVER_ROOT_US))
                per_visit = row.connections_per_visit
                met = per_visit != "-" and float(per_visit) <= CONNECTIONS_PER_VISIT
                checks.append((f"{row.target}: new Redis connections per visit at {connections} connections", per_visit, met))
    print("\n| latency and connection target (everysec pass) | measured | |")
    print("| --- | ---: | --- |")
    for what, measured, met in checks:
        print(f"| {what} | {measured} | {'met' if met else '**missed**'} |")


def print_targets(runtimes, rows):
    """The ratios of TARGETS, each from two rows of the everysec pass at the same connection count."""
    rate = {(r.target, r.connections): r.req_per_s for r in rows if r.fsync == "everysec"}
    header = " | ".join(f"{c} conns" for c in TARGET_CONNECTIONS)
    print(f"\n| ratio (everysec pass) | at least | {header} |")
    print("| --- | ---: |" + " ---: |" * len(TARGET_CONNECTIONS))
    for runtime in runtimes:
        for edition, what, numerator, denominator, *at_least in TARGETS:
            if edition not in runtime.editions:
                continue
            label = runtime.label(edition)
            cells = []
            for connections, least in zip(TARGET_CONNECTIONS, at_least):
                top = rate.get((numerator.format(label), connections))
                bottom = rate.get((denominator.format(label), connections))
                if top is None or bottom is None:
                    cells.append("not measured")
                else:
                    ratio = top / bottom
                    cells.append(f"{ratio:.2f} {'met' if ratio >= least else '**missed**'}")
            least = " / ".join(f"{x:.2f}" for x in dict.fromkeys(at_least))
            print(f"| {label}: {what} | {least} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
