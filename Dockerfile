# redis-sidecar: build with the official Rust image, run on a slim Debian as a non-root user.
#   docker build -t redis-sidecar .
#   docker run -p 6380:6380 -p 9180:9180 -e REDIS_URL=redis://host:6379 -v sidecar-data:/data redis-sidecar
# Both stages are Debian bookworm, so the binary's glibc matches at run time.

FROM rust:1-bookworm AS build
WORKDIR /src
# Only what `cargo build` needs: the manifest, the lock file, the sources, and the benches the
# manifest declares ([[bench]] targets must exist for the manifest to load). The vendored Lua,
# zstd and mimalloc C sources build with the gcc and make this image ships.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin redis-sidecar \
 && cp target/release/redis-sidecar /usr/local/bin/redis-sidecar

FROM debian:bookworm-slim
# ca-certificates: TLS to Upstash verifies against the webpki roots compiled into the binary, so
# this is not needed for that; it is kept for completeness (a private CA, tools run in the image).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 sidecar \
 && useradd --system --uid 10001 --gid sidecar --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin sidecar \
 && mkdir -p /data/journal /app/config \
 && chown -R sidecar:sidecar /data
COPY --from=build /usr/local/bin/redis-sidecar /usr/local/bin/redis-sidecar
# The shipped configuration (every key at its default); mount another over it to change settings.
COPY config/sidecar.toml /app/config/sidecar.toml
WORKDIR /app

# Clients on 6380 on every interface; the HTTP server (/metrics, /health) on $PORT, which Railway
# sets for its health check (9180 here otherwise). The store's append-only file and the outage
# journal live on the /data volume, so an outage's writes survive a restart.
ENV SIDECAR_LISTEN=0.0.0.0:6380 \
    PORT=9180 \
    SIDECAR_DATA_DIR=/data \
    SIDECAR_JOURNAL_DIR=/data/journal \
    RUST_LOG=info
VOLUME ["/data"]
EXPOSE 6380 9180
USER sidecar:sidecar

# The slim image has no curl, and installing it adds about ten packages (libcurl, nghttp2, ssh,
# ldap...) to every image for one probe. bash (always in Debian) can speak the one HTTP request
# needed through /dev/tcp: GET /health, healthy only on a 200 status line. tests/deploy_files.rs
# runs this exact command against a live sidecar, and against a port where nothing listens.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${PORT:-9180} && printf 'GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r status <&3 && [[ $status == 'HTTP/1.1 200 '* ]]"]

ENTRYPOINT ["/usr/local/bin/redis-sidecar"]
