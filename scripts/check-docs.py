#!/usr/bin/env python3
"""Keeps the docs true; scripts/test.sh runs it (docs/testing.md#the-doc-check).

Static checks (--static runs only these, in about a second):
  - every relative link in the docs names a file that exists, and a heading for an #anchor;
  - every repository path the docs name in code exists, unless git ignores it (a file the user
    creates, such as deploy/kubernetes/base/redis-auth.env);
  - the table of runtimes and builds is told once, in docs/runtimes.md;
  - the docs tell no history (issue numbers, "missed" targets, "used to be", ...), but in the
    benchmark's results.
Then the README's quick start: the blocks marked `<!-- check-docs: serve -->` (a command that
serves) and `<!-- check-docs: run -->` (commands run while it serves) are run as written and their
output compared with the README's, line by line. Where the README shows 127.0.0.1:5001 and Redis
on 6379, the run uses free ports (and so a fresh Redis); `date:` headers and cargo's progress lines
are not compared. No Spin CLI is used, whatever PATH holds: the README shows the test host's
output, which is what a machine without Spin prints. SPIN_TEST_HOST passes an already built test
host on to scripts/up.sh.
"""

import argparse
import difflib
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_TABLE_HOME = "docs/runtimes.md"
# Lines whose content changes from run to run, or that are not ours: (pattern, replacement).
VOLATILE = [
    (re.compile(r"^date: .*$", re.IGNORECASE), "date: <date>"),
]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
CARGO_PROGRESS = re.compile(r"^\s*(Compiling|Finished|Blocking|Updating|Locking|Downloading|Downloaded|Adding|Building) ")
HISTORY = [
    re.compile(r"\bissues? #?\d+", re.IGNORECASE),
    re.compile(r"\bPR #?\d+"),
    re.compile(r"\bmissed\b", re.IGNORECASE),
    re.compile(r"\bused to be\b", re.IGNORECASE),
    re.compile(r"\bnot yet (found|known)\b", re.IGNORECASE),
    re.compile(r"\bas of 20\d\d-"),
]
# Where the benchmark's own output may say "missed": its results.
HISTORY_EXEMPT = {"bench/README.md": "## Latest run"}
SERVE_TIMEOUT_S = 1200  # a first run compiles the test host


def docs():
    names = ["README.md", "bench/README.md", "deploy/README.md", "testhost/README.md"]
    names += sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))
    return [n for n in names if (ROOT / n).exists()]


class Problems:
    def __init__(self):
        self.found = []

    def add(self, where, message):
        self.found.append(f"{where}: {message}")


def split_blocks(text):
    """(line number, line, fence info or None) for every line; fence lines themselves skipped."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else (stripped[3:].strip() or "text")
            continue
        yield number, line, fence


def slug(heading):
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    seen = {}
    result = set()
    for _, line, fence in split_blocks(path.read_text()):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fence is None and match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            result.add(base if count == 0 else f"{base}-{count}")
    return result


def git_ignores(relative):
    return subprocess.run(["git", "check-ignore", "-q", relative], cwd=ROOT,
                          capture_output=True).returncode == 0


def tracked_top_level():
    """The repository's top-level names (git's, else the directory's): a path in the docs that
    starts with one of them is a path into the repository."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if files.returncode != 0:
        return {p.name for p in ROOT.iterdir()} - {".git", "target"}
    return {line.split("/")[0] for line in files.stdout.splitlines() if line}


LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"``(.+?)``|`([^`]+)`")


def check_links(doc, problems):
    path = ROOT / doc
    for number, line, fence in split_blocks(path.read_text()):
        if fence is not None:
            continue
        for target in LINK.findall(re.sub(CODE_SPAN, "", line)):
            if re.match(r"^[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            where = f"{doc}:{number}"
            if not resolved.exists():
                problems.add(where, f"link to {target}: no such file")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                problems.add(where, f"link to {target}: no heading #{anchor} there")


def path_candidates(line, fence):
    if fence is None:
        spans = [a or b for a, b in CODE_SPAN.findall(line)]
    elif fence in ("bash", "sh", "shell"):
        spans = [line.split(" #")[0]]
    elif fence == "console":
        spans = [line[2:].split(" #")[0]] if line.startswith("$ ") else []
    else:
        spans = []
    for span in spans:
        for token in re.split(r"[\s=;|&()]+", span):
            token = token.strip("'\",.:")
            if "/" in token and not re.search(r"[<>*$~{}@]|://", token):
                yield token


def check_paths(doc, problems, top_level):
    path = ROOT / doc
    for number, line, fence in split_blocks(path.read_text()):
        for token in path_candidates(line, fence):
            if token.startswith(("/", "..", "-")) or token.split("/")[0] not in top_level:
                continue
            if (ROOT / token).exists() or (path.parent / token).exists():
                continue
            bare = token.rstrip("/")
            if git_ignores(bare) or git_ignores(bare + "/"):
                continue
            problems.add(f"{doc}:{number}", f"`{token}`: no such file or directory in the repository")


def check_runtime_table(doc, problems):
    lines = (ROOT / doc).read_text().splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith("|") and re.match(r"^\|\s*:?-{3,}", lines[i + 1]):
            cells = [c.strip().strip("`").lower() for c in line.strip("|").split("|")]
            if "runtime" in cells and "build" in cells and doc != RUNTIME_TABLE_HOME:
                problems.add(f"{doc}:{i + 1}", f"a table of runtimes and builds: it lives in {RUNTIME_TABLE_HOME}; link to it")


def check_history(doc, problems):
    exempt_from = HISTORY_EXEMPT.get(doc)
    exempt = False
    for number, line, fence in split_blocks((ROOT / doc).read_text()):
        if fence is None and line.startswith("## "):
            exempt = exempt_from is not None and line.startswith(exempt_from)
        if exempt:
            continue
        for pattern in HISTORY:
            match = pattern.search(line)
            if match:
                problems.add(f"{doc}:{number}", f"history in the docs ({match.group(0)!r}): say what is, not what was")


# The quick start.


def marked_blocks(readme):
    """[(kind, line number, [(command, [expected output lines])])] for every marked block."""
    lines = readme.read_text().splitlines()
    blocks = []
    for i, line in enumerate(lines):
        match = re.match(r"^<!-- check-docs: (serve|run) -->$", line.strip())
        if not match:
            continue
        start = i + 1
        while start < len(lines) and not lines[start].strip():
            start += 1
        if start >= len(lines) or lines[start].strip() != "```console":
            raise SystemExit(f"README.md:{i + 1}: a check-docs mark must precede a ```console block")
        steps = []
        j = start + 1
        while j < len(lines) and lines[j].strip() != "```":
            if lines[j].startswith("$ "):
                steps.append((lines[j][2:], []))
            elif steps:
                steps[-1][1].append(lines[j])
            j += 1
        blocks.append((match.group(1), start + 2, steps))
    return blocks


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def normalise(lines, ignore_cargo):
    out = []
    for line in lines:
        line = line.rstrip()
        if ignore_cargo and CARGO_PROGRESS.match(line):
            continue
        for pattern, replacement in VOLATILE:
            line = pattern.sub(replacement, line)
        out.append(line)
    return out


class QuickStart:
    def __init__(self):
        self.app_port = free_port()
        self.redis_port = free_port()
        while (ROOT / f".data/redis-{self.redis_port}").exists():
            self.redis_port = free_port()
        self.data = ROOT / f".data/redis-{self.redis_port}"
        env = dict(os.environ)
        env.pop("SPIN_BIN", None)
        # No Spin CLI: the README shows what a machine without one prints.
        env["PATH"] = os.pathsep.join(
            d for d in env.get("PATH", "").split(os.pathsep) if not (Path(d) / "spin").exists()
        )
        env["LISTEN"] = f"127.0.0.1:{self.app_port}"
        env["REDIS_PORT"] = str(self.redis_port)
        self.env = env
        self.server = None

    def to_readme(self, text):
        """Output as the README's ports would have printed it."""
        text = text.replace(f"127.0.0.1:{self.app_port}", "127.0.0.1:5001")
        text = text.replace(f"127.0.0.1:{self.redis_port}", "127.0.0.1:6379")
        return text.replace(f".data/redis-{self.redis_port}", ".data/redis")

    def to_run(self, command):
        """A README command as run here: on this run's ports."""
        command = command.replace("127.0.0.1:5001", f"127.0.0.1:{self.app_port}")
        return re.sub(r"^redis-cli ", f"redis-cli -p {self.redis_port} ", command)

    def serve(self, command, expected, where, problems):
        expected = normalise(expected, ignore_cargo=True)
        print(f"check-docs: {where}: $ {command}   (LISTEN={self.env['LISTEN']} REDIS_PORT={self.redis_port})", flush=True)
        self.server = subprocess.Popen(
            ["bash", "-c", self.to_run(command)], cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        seen, pending = [], b""
        deadline = time.monotonic() + SERVE_TIMEOUT_S
        os.set_blocking(self.server.stdout.fileno(), False)
        while time.monotonic() < deadline:
            chunk = self.server.stdout.read() or b""
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                line = self.to_readme(raw.decode(errors="replace"))
                if not CARGO_PROGRESS.match(line):
                    print(f"    | {line}", flush=True)
                seen.append(line)
            shown = normalise(seen, ignore_cargo=True)
            if expected and expected[-1] in shown:
                break
            if self.server.poll() is not None and not chunk:
                break
            time.sleep(0.1)
        shown = normalise(seen, ignore_cargo=True)
        if expected and expected[-1] in shown:
            shown = shown[: shown.index(expected[-1]) + 1]
        if shown != expected:
            self.report(where, command, expected, shown, problems)
            return False
        return True

    def run(self, command, expected, where, problems):
        print(f"check-docs: {where}: $ {command}", flush=True)
        output = run_in_pty(self.to_run(command), self.env)
        shown = normalise(self.to_readme(output).splitlines(), ignore_cargo=False)
        expected = normalise(expected, ignore_cargo=False)
        if shown != expected:
            self.report(where, command, expected, shown, problems)

    @staticmethod
    def report(where, command, expected, shown, problems):
        diff = "\n".join(difflib.unified_diff(expected, shown, "the README shows", "it printed", lineterm=""))
        problems.add(where, f"`{command}` printed something else than the README shows:\n{diff}")

    def stop(self):
        if self.server and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)  # as a service manager would: up.sh stops the app
            try:
                self.server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait()
        subprocess.run(["redis-cli", "-p", str(self.redis_port), "shutdown", "nosave"],
                       capture_output=True, check=False)
        shutil.rmtree(self.data, ignore_errors=True)


def run_in_pty(command, env, timeout_s=60):
    """Runs `command` with a terminal as its output, as a user at a prompt would (redis-cli quotes
    its answers only there)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(["bash", "-c", command], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                               stdout=follower, stderr=follower, start_new_session=True)
    os.close(follower)
    output = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    else:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    os.close(leader)
    text = output.decode(errors="replace").replace("\r", "")
    return ANSI.sub("", text)  # curl -i prints header names in bold on a terminal


def check_quick_start(problems):
    readme = ROOT / "README.md"
    blocks = marked_blocks(readme)
    if not [b for b in blocks if b[0] == "serve"]:
        problems.add("README.md", "no block marked <!-- check-docs: serve -->: the quick start is not checked")
        return
    quick = QuickStart()
    try:
        serving = False
        for kind, first_line, steps in blocks:
            line = first_line
            for command, expected in steps:
                where = f"README.md:{line}"
                if kind == "serve":
                    serving = quick.serve(command, expected, where, problems)
                    if not serving:
                        return
                else:
                    quick.run(command, expected, where, problems)
                line += 1 + len(expected)
    finally:
        quick.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--static", action="store_true", help="only links, paths, the one table, no history")
    args = parser.parse_args()
    problems = Problems()
    top_level = tracked_top_level()
    names = docs()
    for doc in names:
        check_links(doc, problems)
        check_paths(doc, problems, top_level)
        check_runtime_table(doc, problems)
        check_history(doc, problems)
    if not args.static and not problems.found:
        check_quick_start(problems)
    if problems.found:
        print(f"check-docs: {len(problems.found)} problem(s):", file=sys.stderr)
        for problem in problems.found:
            print(f"  {problem}", file=sys.stderr)
        return 1
    what = "links, paths, the runtime table, no history" + ("" if args.static else ", the README's quick start")
    print(f"check-docs: {len(names)} docs ok ({what})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
