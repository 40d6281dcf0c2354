#!/usr/bin/env bash
# Runs the app on http://127.0.0.1:5001 with a persistent Redis, building it first.
#
# The build follows `spin --version`, each Spin getting the one made for it: Spin 4.1 and newer the
# WASI 0.3.0 build (spin.toml), whose instances they reuse; Spin 4.0.x the same source built for the
# WASI release candidate (spin40/spin.toml), the only WASIp3 it runs (Spin 4.1 would run that one
# too, but with a new instance, and a new Redis connection, per request); Spin 3 the portable
# edition (portable/spin.toml). On Spin 4 it passes --request-timeout so that a key-value call
# (counter_store=kv, which nothing in the component can bound) fails instead of waiting forever;
# Spin 3 has no such timeout. deploy/README.md has the same choice for every other runtime.
#
# Without a Spin CLI (none on PATH, none named by SPIN_BIN) it says so, and serves the WASI 0.3.0
# build on the project's Spin-compatible test host (testhost/), which runs it as Spin 4.1 does;
# SPIN_TEST_HOST=/path/to/spin-test-host runs one already built (the tests pass theirs).
#
# Redis comes from, in order: `docker compose up -d --wait redis` where a Docker engine answers; a
# Redis already answering on 127.0.0.1:$REDIS_PORT (default 6379); a local redis-server with AOF
# in .data/redis (started here, stopped on exit, data kept); else no Redis at all: the counter then
# uses Spin's built-in key-value store under .spin/ (counter_store=kv).
# Extra arguments go to `spin up`, e.g. `scripts/up.sh --variable redis_key=hits`; LISTEN=ADDR
# serves on another address than 127.0.0.1:5001. Ctrl-C or SIGTERM stops the app and that Redis.
set -euo pipefail
cd "$(dirname "$0")/.."

listen=${LISTEN:-127.0.0.1:5001}
redis_port=${REDIS_PORT:-6379}
spin=${SPIN_BIN:-spin}
timeout=${REQUEST_TIMEOUT:-5}

say() { printf '==> %s\n' "$*"; }

if command -v "$spin" >/dev/null; then
    version=$("$spin" --version 2>/dev/null | head -n 1)
else
    # No Spin CLI (no package registry ships one): serve on the project's own test host.
    say "the project's Spin-compatible test host (testhost/), not Spin: no Spin CLI found (looked for '$spin')"
    echo "    Install Spin from https://spinframework.dev/install, or set SPIN_BIN=/path/to/spin." >&2
    version=test-host
fi
case "$version" in
    test-host)
        manifest=spin.toml edition_args=(--request-timeout "$timeout")
        say "the build for Spin 4.1+ (spin.toml: WASI 0.3.0), requests time out after $timeout s" ;;
    "spin 3."*)
        manifest=portable/spin.toml edition_args=()
        say "$version: the portable edition (portable/spin.toml: WASIp2, the only HTTP handler Spin 3 runs)" ;;
    "spin 4.0."*)
        manifest=spin40/spin.toml edition_args=(--request-timeout "$timeout")
        say "$version: the build for Spin 4.0 (spin40/spin.toml: WASI 0.3.0-rc-2026-03-15, the only WASIp3 Spin 4.0 runs), requests time out after $timeout s" ;;
    "spin "[4-9].*|"spin "[1-9][0-9]*)
        manifest=spin.toml edition_args=(--request-timeout "$timeout")
        say "$version: the build for Spin 4.1+ (spin.toml: WASI 0.3.0, whose instances Spin reuses), requests time out after $timeout s" ;;
    *)
        echo "error: '$spin --version' printed '$version', not a Spin 3 or 4 CLI." >&2
        exit 1 ;;
esac
if ! rustup target list --installed | grep -qx wasm32-wasip1; then
    say "adding the wasm32-wasip1 target"
    rustup target add wasm32-wasip1
fi

redis_answers() { redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null | grep -qx PONG; }

store_args=(--runtime-config-file runtime-config.toml)
if [ "$redis_port" != 6379 ]; then
    store_args+=(--variable "redis_port=$redis_port")
fi
if docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    say "starting Redis with Docker Compose (data in the volume redis-data)"
    docker compose up -d --wait redis
elif command -v redis-server >/dev/null; then
    if redis_answers; then
        say "using the Redis already answering on 127.0.0.1:$redis_port"
    else
        data=$PWD/.data/redis
        mkdir -p "$data"
        say "starting redis-server on 127.0.0.1:$redis_port (AOF in .data/redis)"
        redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$data" \
            --appendonly yes --appendfsync always --save '' \
            --daemonize yes --pidfile "$data/redis.pid" --logfile "$data/redis.log"
        trap 'redis-cli -h 127.0.0.1 -p "$redis_port" shutdown >/dev/null 2>&1 || true' EXIT
        for _ in $(seq 50); do redis_answers && break; sleep 0.1; done
        redis_answers || { echo "error: redis-server did not start; see $data/redis.log" >&2; exit 1; }
    fi
else
    say "no Docker engine and no redis-server: counting in Spin's built-in key-value store (.spin/)"
    store_args=(--variable counter_store=kv)
fi

# The app runs in a process group of its own (job control on), so that a Ctrl-C or SIGTERM to
# this script stops all of it (Spin runs its trigger as a child process), and then the Redis
# started above: SIGINT first, as a Ctrl-C would give it, then SIGTERM (a process started with
# SIGINT ignored, as a background job of another script is, keeps ignoring it), then SIGKILL.
serve() {
    set -m
    "$@" &
    app=$!
    set +m
    trap 'stop 130' INT
    trap 'stop 143' TERM
    status=0
    wait "$app" || status=$?
    exit "$status"
}
stop() {
    for signal in INT TERM KILL; do
        kill "-$signal" -- "-$app" 2>/dev/null || break
        for _ in $(seq 50); do
            kill -0 -- "-$app" 2>/dev/null || break 2
            sleep 0.1
        done
    done
    wait "$app" 2>/dev/null || true
    exit "$1"
}

say "building and serving on http://$listen"
if [ "$version" = test-host ]; then
    # What `spin build` would run (spin.toml's build command), then the test host's `up`.
    cargo build --locked --target wasm32-wasip1 --release -p spin-redis-counter
    test_host=${SPIN_TEST_HOST:-}
    if [ -z "$test_host" ]; then
        cargo build --locked -p spin-test-host
        test_host=target/debug/spin-test-host
    fi
    serve "$test_host" up --from "$manifest" --listen "$listen" \
        --state-dir .spin "${edition_args[@]}" "${store_args[@]}" "$@"
fi
serve "$spin" build --from "$manifest" --up --listen "$listen" "${edition_args[@]}" "${store_args[@]}" "$@"
