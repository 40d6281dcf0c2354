#!/usr/bin/env bash
# Runs the app on http://127.0.0.1:5001 (or https://) with a persistent Redis, building it first.
#
# The build follows `spin --version`, each Spin getting the one made for it (docs/runtimes.md):
# Spin 4.1 and newer spin.toml, Spin 4.0.x spin40/spin.toml, Spin 3 portable/spin.toml. On Spin 4
# it passes --request-timeout, so that a key-value call (counter_store=kv), which nothing in the
# component can bound, fails instead of waiting forever. Without a Spin CLI (none on PATH, none
# named by SPIN_BIN) it says so and serves spin.toml's build on the project's Spin-compatible
# test host (testhost/), building it first; SPIN_TEST_HOST=/path/to/spin-test-host runs one
# already built.
#
# Redis comes from, in order: a Redis already answering on 127.0.0.1:$REDIS_PORT (default 6379,
# with a password or without);
# `docker compose up -d --wait redis` where a Docker engine answers (that Redis keeps running
# after the app stops); a redis-server started here with AOF in .data/redis (.data/redis-PORT
# for another port), stopped with the app, its data kept; else none: the counter then uses
# Spin's built-in key-value store under .spin/ (counter_store=kv). The key-value store `default`
# is the same Redis (runtime-config.toml, or a copy of it for another port).
#
# Extra arguments go to `spin up`, e.g. `scripts/up.sh --variable redis_key=hits`. LISTEN=ADDR
# serves on another address, REQUEST_TIMEOUT=SECONDS sets Spin 4's --request-timeout (5), and
# TLS_CERT=cert.pem TLS_KEY=key.pem serve HTTPS (Spin's --tls-cert and --tls-key).
# Ctrl-C or SIGTERM stops the app, and the redis-server if this script started it.
set -euo pipefail
cd "$(dirname "$0")/.."

listen=${LISTEN:-127.0.0.1:5001}
redis_port=${REDIS_PORT:-6379}
spin=${SPIN_BIN:-spin}
timeout=${REQUEST_TIMEOUT:-5}

say() { printf '==> %s\n' "$*"; }

# HTTPS needs both files, readable, before anything starts.
scheme=http tls_args=()
if [ -n "${TLS_CERT:-}${TLS_KEY:-}" ]; then
    for name in TLS_CERT TLS_KEY; do
        file=${!name:-}
        if [ -z "$file" ]; then
            echo "error: TLS_CERT and TLS_KEY go together (a PEM certificate and its PKCS#8 key); $name is not set." >&2
            exit 2
        elif [ ! -f "$file" ] || [ ! -r "$file" ]; then
            echo "error: $name=$file is not a readable file." >&2
            exit 2
        fi
    done
    scheme=https tls_args=(--tls-cert "$TLS_CERT" --tls-key "$TLS_KEY")
fi

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

# The first line 127.0.0.1:$redis_port answers a PING with (PONG, or NOAUTH from a Redis that
# wants a password), asked with redis-cli, or over bash's /dev/tcp without it.
redis_ping() {
    if command -v redis-cli >/dev/null; then
        redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null | head -n 1
        return
    fi
    local reply=
    { exec 3<>"/dev/tcp/127.0.0.1/$redis_port"; } 2>/dev/null || return 0
    printf 'PING\r\n' >&3
    read -r -t 2 reply <&3 || true
    exec 3<&- 3>&-
    reply=${reply%$'\r'}
    echo "${reply#[+-]}"
}
# A Redis answers there, with or without a password.
redis_answers() {
    case "$(redis_ping)" in
        PONG | NOAUTH*) return 0 ;;
        *) return 1 ;;
    esac
}

tmp=$(mktemp -d)
started_redis=
cleanup() {
    if [ -n "$started_redis" ]; then
        redis-cli -h 127.0.0.1 -p "$redis_port" shutdown >/dev/null 2>&1 ||
            kill "$(cat "$started_redis")" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# The key-value store `default` (counter_store=kv) lives in the same Redis: runtime-config.toml
# names 127.0.0.1:6379; for another port, a copy that names that one.
runtime_config=runtime-config.toml
store_args=()
if [ "$redis_port" != 6379 ]; then
    runtime_config=$tmp/runtime-config.toml
    sed "s|redis://127.0.0.1:6379|redis://127.0.0.1:$redis_port|" runtime-config.toml >"$runtime_config"
    store_args=(--variable "redis_port=$redis_port")
fi
store_args=(--runtime-config-file "$runtime_config" "${store_args[@]}")
if redis_answers; then
    say "using the Redis already answering on 127.0.0.1:$redis_port"
    if [[ $(redis_ping) == NOAUTH* && -z ${SPIN_VARIABLE_REDIS_PASSWORD:-} && " $* " != *redis_password=* ]] &&
        ! grep -qs '^SPIN_VARIABLE_REDIS_PASSWORD=' .env; then
        echo "    It wants a password: SPIN_VARIABLE_REDIS_PASSWORD=... scripts/up.sh" >&2
    fi
elif docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    say "starting Redis with Docker Compose on 127.0.0.1:$redis_port (data in the volume redis-data; it keeps running after the app stops: docker compose stop redis)"
    REDIS_PORT=$redis_port docker compose up -d --wait redis
elif command -v redis-server >/dev/null; then
    data=.data/redis
    [ "$redis_port" = 6379 ] || data=.data/redis-$redis_port
    mkdir -p "$data"
    say "starting redis-server on 127.0.0.1:$redis_port (AOF in $data)"
    redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$PWD/$data" \
        --appendonly yes --appendfsync always --save '' \
        --daemonize yes --pidfile "$PWD/$data/redis.pid" --logfile "$PWD/$data/redis.log"
    started_redis=$PWD/$data/redis.pid
    for _ in $(seq 50); do redis_answers && break; sleep 0.1; done
    redis_answers || { echo "error: redis-server did not start; see $data/redis.log" >&2; exit 1; }
else
    say "no Redis on 127.0.0.1:$redis_port, no Docker engine and no redis-server: counting in Spin's built-in key-value store (.spin/)"
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

say "building and serving on $scheme://$listen"
if [ "$version" = test-host ]; then
    # What `spin build` would run (spin.toml's build command), then the test host's `up`.
    cargo build --locked --target wasm32-wasip1 --release -p spin-redis-counter
    test_host=${SPIN_TEST_HOST:-}
    if [ -z "$test_host" ]; then
        cargo build --locked -p spin-test-host
        test_host=target/debug/spin-test-host
    fi
    serve "$test_host" up --from "$manifest" --listen "$listen" \
        --state-dir .spin "${edition_args[@]}" "${tls_args[@]}" "${store_args[@]}" "$@"
fi
serve "$spin" build --from "$manifest" --up --listen "$listen" "${edition_args[@]}" "${tls_args[@]}" "${store_args[@]}" "$@"
