#!/usr/bin/env python3
"""Compares builds of one manifest side by side on one Spin, for an A/B of a change.

Every build given runs at once on one redis-server (AOF, fsync everysec), in redis mode, beside the
2-worker seed; they take turns, round after round, so a drift in the machine's load hits each alike.
Prints, per build and connection count, the best round's `/count` and the same build's `/`, with the
ratio and the app CPU per request over `/`'s, and every round's req/s. Counter checks as in bench.py.
Usage: bench/compare.py [-c CONNECTIONS] SECONDS ROUNDS SPIN_BINARY MANIFEST NAME=WASM[:VAR=VALUE...] ...
(CONNECTIONS: comma-separated, default 16,64; VAR=VALUE: extra environment for that build's Spin,
e.g. RUST_BACKTRACE=1)
e.g.   bench/compare.py 5 3 "$SPIN_BIN" spin.toml before=/tmp/before.wasm after=target/wasm32-wasip1/release/spin_redis_counter.wasm
"""

import contextlib
import functools
import re
import sys
import tempfile
from pathlib import Path

import bench

CONNECTIONS = (16, 64)


def main():
    arguments = sys.argv[1:]
    connection_counts = CONNECTIONS
    if arguments[:1] == ["-c"]:
        connection_counts = tuple(int(c) for c in arguments[1].split(","))
        arguments = arguments[2:]
    if len(arguments) < 5:
        sys.exit(__doc__.split("\n")[6])
    seconds, rounds, spin, manifest = int(arguments[0]), int(arguments[1]), arguments[2], Path(arguments[3])
    builds = [argument.partition("=")[::2] for argument in arguments[4:]]
    builds = [(name, *spec.split(":", 1)) if ":" in spec else (name, spec, "") for name, spec in builds]
    runner = bench.Bench(seconds)
    quiet = bench.wait_for_quiet()
    stolen_from = bench.cpu_times()
    with tempfile.TemporaryDirectory(prefix="spin-counter-compare-") as tmp, contextlib.ExitStack() as stack:
        tmp = Path(tmp)
        port, runner.redis_pid = stack.enter_context(bench.redis_server(tmp / "redis", "everysec"))
        runner.read_connections = functools.partial(bench.redis_connections, port)
        counter = functools.partial(bench.redis_counter, port)
        calls = functools.partial(bench.redis_calls, port, ("ping", "incrby"))
        variables = {"redis_port": str(port), "redis_key": bench.KEY}
        apps = []
        for name, wasm, env in builds:
            # The manifest as it is, its component's source pointing at this build's .wasm.
            directory = tmp / name
            directory.mkdir()
            text = re.sub(r'(?m)^source = ".*"$', f'source = "{Path(wasm).resolve()}"', manifest.read_text())
            (directory / "spin.toml").write_text(text)
            extra = dict(pair.split("=", 1) for pair in env.split(":") if pair)
            start = bench.app(spin, directory / "spin.toml", directory / "app", variables, extra_env=extra)
            apps.append((name, stack.enter_context(start)))
        seed = stack.enter_context(bench.seed(tmp / "seed", port, 2, "seed-2w"))
        seed_counter = functools.partial(bench.redis_counter, port, "seed-2w")
        results = {}
        for round_ in range(rounds):
            for connections in connection_counts:
                for name, app in apps:
                    root = runner.measure(app.at("/"), f"{name} `/`", "everysec", connections)
                    row = runner.measure(app.at("/count"), name, "everysec", connections, counter, root, calls)
                    row.rss_mib = app.rss_kib() / 1024
                    results.setdefault((name, connections), []).append((row, root))
                row = runner.measure(seed.at("/count"), "seed", "everysec", connections, seed_counter)
                row.rss_mib = seed.rss_kib() / 1024
                results.setdefault(("seed", connections), []).append((row, None))
    stolen = bench.stolen_share(stolen_from, bench.cpu_times())
    version = bench.run([spin, "--version"], timeout=30).strip()
    print(f"\n### {', '.join(name for name, *_ in builds)} on {version}, {rounds} rounds of {seconds} s\n")
    print(f"- {quiet}; CPU steal during the run {stolen:.1%}")
    print("- best round's req/s and CPU; p99 and max: the worst of all rounds; `all rounds`: every round's")
    print("  `/count` req/s in order; `RSS`: the app's resident")
    print("  memory (all its processes) right after its `/count` run, the most of any round\n")
    print("| build | conns | `/count` req/s | `/` req/s | vs `/` | vs seed | p50 ms | p99 ms | max ms "
          "| app CPU/req us | over `/` us | visits/INCRBY | new conns/visit | RSS MiB | counter check | all rounds |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for connections in connection_counts:
        seed_best = max(row.req_per_s for row, _ in results[("seed", connections)])
        for name in [name for name, *_ in builds] + ["seed"]:
            runs = results[(name, connections)]
            row, root = max(runs, key=lambda run: run[0].req_per_s)
            every = ", ".join(f"{r.req_per_s:,.0f}" for r, _ in runs)
            checks = "ok" if all(r.check.startswith("ok") for r, _ in runs) else "**MISMATCH**"
            print(
                f"| {name} | {connections} | {row.req_per_s:,.0f} | {f'{root.req_per_s:,.0f}' if root else '-'} | "
                f"{row.vs_root} | {row.req_per_s / seed_best:.2f} | {row.p50_us / 1000:.2f} | "
                f"{max(r.p99_us for r, _ in runs) / 1000:.2f} | {max(r.max_us for r, _ in runs) / 1000:.2f} | {row.app_cpu_us} | {row.cpu_over_root_us} | {row.visits_per_incrby} | "
                f"{row.connections_per_visit} | {max(r.rss_mib for r, _ in runs):.1f} | {checks} | {every} |"
            )
    if runner.mismatches:
        sys.exit("COUNTER MISMATCH: " + "; ".join(runner.mismatches))


if __name__ == "__main__":
    main()
