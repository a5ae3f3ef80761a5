# syntax=docker/dockerfile:1
# Sluice's image for builders with a container engine: the four static
# binaries on scratch, run as uid 65532. scripts/image assembles the same
# image without an engine; docs/image.md describes both.
#   docker build --build-arg REVISION=$(git rev-parse HEAD) -t sluice:0.1.0 .

FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# .cargo/config.toml links statically (crt-static, OpenSSL from Debian's
# static archives): the check below refuses any binary that needs a loader.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
      -p sluice-cli -p sluice-controller -p sluice-webhook -p sluice-executor \
 && mkdir -p /out/usr/local/bin /out/etc/ssl/certs /out/tmp \
 && for bin in sluice sluice-controller sluice-webhook sluice-executor; do \
      if readelf -lW "target/x86_64-unknown-linux-gnu/release/$bin" | grep -q 'program interpreter'; then \
        echo "$bin is dynamically linked" >&2; exit 1; \
      fi; \
      install -m 0755 "target/x86_64-unknown-linux-gnu/release/$bin" /out/usr/local/bin/; \
    done \
 && printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
      'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' >/out/etc/passwd \
 && printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' >/out/etc/group \
 && install -m 0644 /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \
 && chmod 1777 /out/tmp

FROM scratch
# The workspace version (Cargo.toml); e2e/tests/local/image.rs keeps them equal.
ARG VERSION=0.1.0
ARG REVISION=
COPY --from=build /out/ /
ENV PATH=/usr/local/bin:/usr/bin:/bin
USER 65532:65532
CMD ["sluice", "--help"]
LABEL org.opencontainers.image.title="sluice" \
      org.opencontainers.image.description="Sluice: sluice, sluice-controller, sluice-webhook and sluice-executor" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
