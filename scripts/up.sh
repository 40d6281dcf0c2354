#!/usr/bin/env bash
# Runs the app on http://127.0.0.1:5001 with a persistent Redis, building it first.
#
# The edition follows `spin --version`: Spin 4 runs the Spin 4 edition (spin.toml), whose Redis
# calls redis_timeout bounds, with --request-timeout so that a key-value call (counter_store=kv,
# which nothing in the component can bound) fails instead of waiting forever; Spin 3 runs the
# portable edition (portable/spin.toml), where Spin has no such timeout. deploy/README.md has the
# same choice for every other runtime.
#
# Without a Spin CLI (none on PATH, none named by SPIN_BIN) it says so, and serves the Spin 4
# edition on the project's Spin-compatible test host (testhost/) instead.
#
# Redis comes from, in order: `docker compose up -d --wait redis` where a Docker engine answers; a
# local redis-server with AOF in .data/redis (started here, stopped on exit, data kept); else no
# Redis at all: the counter then uses Spin's built-in key-value store under .spin/ (counter_store=kv).
# Extra arguments go to `spin up`, e.g. `scripts/up.sh --variable redis_key=hits`; LISTEN=ADDR
# serves on another address than 127.0.0.1:5001.
set -euo pipefail
cd "$(dirname "$0")/.."

listen=${LISTEN:-127.0.0.1:5001}
redis_port=6379
spin=${SPIN_BIN:-spin}

say() { printf '==> %s\n' "$*"; }

if command -v "$spin" >/dev/null; then
    version=$("$spin" --version 2>/dev/null | head -n 1)
else
    # No Spin CLI (no package registry ships one): serve the Spin 4 edition on the project's own
    # Spin-compatible test host, which runs the same .wasm with Spin 4.0.2's semantics.
    say "the project's Spin-compatible test host (testhost/), not Spin: no Spin CLI found (looked for '$spin')"
    echo "    Install Spin from https://spinframework.dev/install, or set SPIN_BIN=/path/to/spin." >&2
    version=test-host
fi
case "$version" in
    test-host)
        manifest=spin.toml edition_args=(--request-timeout "${REQUEST_TIMEOUT:-5}")
        say "the Spin 4 edition (spin.toml), requests time out after ${REQUEST_TIMEOUT:-5} s" ;;
    "spin 3."*)
        manifest=portable/spin.toml edition_args=()
        say "$version: the portable edition (portable/spin.toml)" ;;
    "spin "[4-9].*|"spin "[1-9][0-9]*)
        manifest=spin.toml edition_args=(--request-timeout "${REQUEST_TIMEOUT:-5}")
        say "$version: the Spin 4 edition (spin.toml), requests time out after ${REQUEST_TIMEOUT:-5} s" ;;
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

say "building and serving on http://$listen"
if [ "$version" = test-host ]; then
    # What `spin build` would run (spin.toml's build command), then the test host's `up`.
    cargo build --locked --target wasm32-wasip1 --release -p spin-redis-counter
    cargo build --locked -p spin-test-host
    # In the background so that a Ctrl-C or SIGTERM to this script stops it too (a background
    # job of a script ignores SIGINT), and the Redis started above with it.
    target/debug/spin-test-host up --from "$manifest" --listen "$listen" \
        --state-dir .spin "${edition_args[@]}" "${store_args[@]}" "$@" &
    host=$!
    trap 'kill "$host" 2>/dev/null; wait "$host" || true; exit 130' INT
    trap 'kill "$host" 2>/dev/null; wait "$host" || true; exit 143' TERM
    status=0
    wait "$host" || status=$?
    exit "$status"
fi
"$spin" build --from "$manifest" --up --listen "$listen" "${edition_args[@]}" "${store_args[@]}" "$@"
