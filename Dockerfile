# syntax=docker/dockerfile:1
# An OCI image that containerd-shim-spin runs as a plain file-based Spin app:
#   docker buildx build --platform wasi/wasm -t spin-redis-counter:latest .
# It holds the portable edition (the shim embeds Spin 3.6, which runs WASIp2 components only):
# portable/spin.toml as /spin.toml, and the .wasm where its `source` points from / (../target/...
# from / is /target/...). The shim reads /runtime-config.toml when it exists.

# The compiler runs on the build machine's platform; only the final stage is wasi/wasm.
FROM --platform=$BUILDPLATFORM rust:1.95-slim AS build
WORKDIR /src
RUN rustup target add wasm32-wasip1
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --locked --target wasm32-wasip1 --release -p spin-redis-counter-portable \
    && mkdir /out \
    && cp target/wasm32-wasip1/release/spin_redis_counter_portable.wasm /out/

FROM scratch
COPY --from=build /out/spin_redis_counter_portable.wasm /target/wasm32-wasip1/release/spin_redis_counter_portable.wasm
COPY portable/spin.toml /spin.toml
COPY deploy/docker/runtime-config.toml /runtime-config.toml
# The shim refuses a task without a process argument; "/" lets `docker run IMAGE` work as is.
CMD ["/"]
