# syntax=docker/dockerfile:1
# OCI images that containerd-shim-spin runs as plain file-based Spin apps, one per build:
#   docker buildx build --platform wasi/wasm -t spin-redis-counter:0.1.0-spin40 .
#   docker buildx build --platform wasi/wasm --target spin41 -t spin-redis-counter:0.1.0-spin41 .
#   docker buildx build --platform wasi/wasm --target portable -t spin-redis-counter:0.1.0-portable .
# spin40 (the default, the last stage): for containerd-shim-spin 0.25.x, the newest released shim
# (Spin 4.0.1 inside: WASI 0.3.0-rc-2026-03-15). spin41: for a shim that embeds Spin 4.1 or newer
# (WASI 0.3.0). portable: for every shim, 0.24 and older included (Spin 3.6 inside, WASIp2 only).
# Each image holds its build's manifest as /spin.toml and the .wasm where that manifest's `source`
# points from / (all resolve to /target/...); the shim reads /runtime-config.toml when it exists.

# The compiler runs on the build machine's platform; only the final stages are wasi/wasm.
FROM --platform=$BUILDPLATFORM rust:1.95-slim AS build
WORKDIR /src
RUN rustup target add wasm32-wasip1
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --locked --target wasm32-wasip1 --release -p spin-redis-counter-spin40 -p spin-redis-counter -p spin-redis-counter-portable \
    && mkdir /out \
    && cp target/wasm32-wasip1/release/spin_redis_counter_spin40.wasm /out/ \
    && cp target/wasm32-wasip1/release/spin_redis_counter.wasm /out/ \
    && cp target/wasm32-wasip1/release/spin_redis_counter_portable.wasm /out/

FROM scratch AS portable
COPY --from=build /out/spin_redis_counter_portable.wasm /target/wasm32-wasip1/release/spin_redis_counter_portable.wasm
COPY portable/spin.toml /spin.toml
COPY deploy/docker/runtime-config.toml /runtime-config.toml
# The shim refuses a task without a process argument; "/" lets `docker run IMAGE` work as is.
CMD ["/"]

FROM scratch AS spin41
COPY --from=build /out/spin_redis_counter.wasm /target/wasm32-wasip1/release/spin_redis_counter.wasm
COPY spin.toml /spin.toml
COPY deploy/docker/runtime-config.toml /runtime-config.toml
CMD ["/"]

FROM scratch AS spin40
COPY --from=build /out/spin_redis_counter_spin40.wasm /target/wasm32-wasip1/release/spin_redis_counter_spin40.wasm
COPY spin40/spin.toml /spin.toml
COPY deploy/docker/runtime-config.toml /runtime-config.toml
CMD ["/"]
