# syntax=docker/dockerfile:1
# OCI images that containerd-shim-spin runs as plain file-based Spin apps, one per edition:
#   docker buildx build --platform wasi/wasm -t spin-redis-counter:0.1.0-spin4 .
#   docker buildx build --platform wasi/wasm --target portable -t spin-redis-counter:0.1.0-portable .
# spin4 (the default, the last stage): the Spin 4 edition, for containerd-shim-spin v0.25 and newer
# (Spin 4.0.1 inside). portable: the portable edition, for every shim, v0.24 and older included
# (Spin 3.6 inside, WASIp2 only). Each image holds its edition's manifest as /spin.toml and the
# .wasm where that manifest's `source` points from / (both resolve to /target/...); the shim
# reads /runtime-config.toml when it exists.

# The compiler runs on the build machine's platform; only the final stages are wasi/wasm.
FROM --platform=$BUILDPLATFORM rust:1.95-slim AS build
WORKDIR /src
RUN rustup target add wasm32-wasip1
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --locked --target wasm32-wasip1 --release -p spin-redis-counter -p spin-redis-counter-portable \
    && mkdir /out \
    && cp target/wasm32-wasip1/release/spin_redis_counter.wasm /out/ \
    && cp target/wasm32-wasip1/release/spin_redis_counter_portable.wasm /out/

FROM scratch AS portable
COPY --from=build /out/spin_redis_counter_portable.wasm /target/wasm32-wasip1/release/spin_redis_counter_portable.wasm
COPY portable/spin.toml /spin.toml
COPY deploy/docker/runtime-config.toml /runtime-config.toml
# The shim refuses a task without a process argument; "/" lets `docker run IMAGE` work as is.
CMD ["/"]

FROM scratch AS spin4
COPY --from=build /out/spin_redis_counter.wasm /target/wasm32-wasip1/release/spin_redis_counter.wasm
COPY spin.toml /spin.toml
COPY deploy/docker/runtime-config.toml /runtime-config.toml
CMD ["/"]
