#!/usr/bin/env bash
# Benchmarks the component with wrk and prints one table (see bench/README.md).
# Usage: bench/run.sh [SECONDS]   (seconds per wrk run, default 5)
# Installs what it needs on a machine that has only Rust, builds the .wasm, and runs on every real Spin
# named, each running the builds made for its version: SPIN_BIN (or `spin` on PATH), SPIN40_BIN,
# SPIN3_BIN; with none, on the test host built with the `host` profile. The seed rows run
# bench/seed_app.py under gunicorn, so it also needs flask, gunicorn and redis (PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-5}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]] || [ "$seconds" -gt 600 ]; then
    echo "usage: bench/run.sh [SECONDS]   (1-600 seconds per wrk run, default 5)" >&2
    exit 2
fi

say() { printf '==> %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! rustup target list --installed | grep -qx wasm32-wasip1; then
    say "adding the wasm32-wasip1 target"
    rustup target add wasm32-wasip1
fi

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v wrk >/dev/null || missing+=(wrk)
command -v python3 >/dev/null || missing+=(python3)
seed_packages=(flask gunicorn redis)
has_seed_packages() { python3 -c 'import flask, gunicorn, redis' 2>/dev/null; }
if ! has_seed_packages && ! python3 -m pip --version >/dev/null 2>&1; then
    missing+=(python3-pip)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]} (Debian packages)"
    as_root apt-get update -qq
    as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! has_seed_packages; then
    say "installing ${seed_packages[*]} (PyPI) for the seed service's stand-in"
    # A Debian-managed python3 refuses plain installs (PEP 668); a user install is fine there.
    python3 -m pip install --quiet "${seed_packages[@]}" 2>/dev/null ||
        python3 -m pip install --quiet --user --break-system-packages "${seed_packages[@]}"
fi

say "building the three builds (.wasm)"
cargo build --locked --target wasm32-wasip1 --release \
    -p spin-redis-counter -p spin-redis-counter-spin40 -p spin-redis-counter-portable

runtimes=()
if [ -n "${SPIN_BIN:-}" ]; then
    runtimes+=("spin=$SPIN_BIN")
elif command -v spin >/dev/null; then
    runtimes+=("spin=$(command -v spin)")
fi
[ -n "${SPIN40_BIN:-}" ] && runtimes+=("spin40=$SPIN40_BIN")
[ -n "${SPIN3_BIN:-}" ] && runtimes+=("spin3=$SPIN3_BIN")
if [ "${#runtimes[@]}" -eq 0 ]; then
    say "no Spin found (SPIN_BIN, spin on PATH, SPIN40_BIN, SPIN3_BIN): building the test host; figures will be test-host figures"
    cargo build --locked --profile host -p spin-test-host
    runtimes+=(test-host=target/host/spin-test-host)
fi

say "benchmarking on ${runtimes[*]}, $seconds s per wrk run"
exec python3 bench/bench.py "$seconds" "${runtimes[@]}"
