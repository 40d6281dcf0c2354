#!/usr/bin/env bash
# Runs every test of the project: unit tests, the end-to-end suite on the real .wasm against real
# redis-server processes (and against real Spin when SPIN_BIN, SPIN40_BIN or SPIN3_BIN, or `spin`
# on PATH, names one), the deploy checks, and the doc check (scripts/check-docs.py: links and
# paths, then the README's quick start run as written). Installs what it needs on a machine that
# has only Rust; CI runs exactly this. docs/testing.md says more.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! rustup target list --installed | grep -qx wasm32-wasip1; then
    say "adding the wasm32-wasip1 target"
    rustup target add wasm32-wasip1
fi

if ! command -v redis-server >/dev/null; then
    say "installing redis-server (Debian package)"
    as_root apt-get update -qq
    as_root apt-get install -y -qq redis-server >/dev/null
fi
# The packaged service is not needed: every test starts its own redis-server on a free port.

# The proxy scenarios run the compose profile's nginx.conf on the real nginx.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    say "installing nginx (Debian package) for the proxy scenarios"
    as_root apt-get update -qq
    as_root apt-get install -y -qq nginx >/dev/null
fi

# The test host talks TLS to Redis through OpenSSL, as Spin does: it links the system's libssl.
if ! pkg-config --exists openssl 2>/dev/null; then
    say "installing libssl-dev and pkg-config (Debian packages) for the test host's TLS"
    as_root apt-get update -qq
    as_root apt-get install -y -qq libssl-dev pkg-config >/dev/null
fi

# scripts/make-cert.sh, and the deploy checks of the certificates it makes, run openssl.
if ! command -v openssl >/dev/null; then
    say "installing openssl (Debian package) for scripts/make-cert.sh"
    as_root apt-get update -qq
    as_root apt-get install -y -qq openssl >/dev/null
fi

if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
    say "installing python3 and pip (Debian packages)"
    as_root apt-get update -qq
    as_root apt-get install -y -qq python3 python3-pip >/dev/null
fi
if ! python3 -m check_jsonschema --version >/dev/null 2>&1; then
    say "installing check-jsonschema (PyPI) for the Compose schema check"
    # A Debian-managed python3 refuses plain installs (PEP 668); a user install is fine there.
    python3 -m pip install --quiet check-jsonschema 2>/dev/null ||
        python3 -m pip install --quiet --user --break-system-packages check-jsonschema
fi

say "checking the docs' links and paths"
python3 scripts/check-docs.py --static

say "building the three builds (.wasm): spin.toml's, spin40/spin.toml's and portable/spin.toml's"
cargo build --locked --target wasm32-wasip1 --release \
    -p spin-redis-counter -p spin-redis-counter-spin40 -p spin-redis-counter-portable

say "running all tests"
cargo test --locked --workspace

# The quick start on the test host the tests were built with, so that nothing is built again.
say "checking the docs: the README's quick start, run as written"
target_dir=$(cargo metadata --locked --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
if [ -x "$target_dir/debug/spin-test-host" ]; then
    export SPIN_TEST_HOST="$target_dir/debug/spin-test-host"
fi
python3 scripts/check-docs.py
