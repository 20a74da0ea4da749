# syntax=docker/dockerfile:1
# BoxOffice API image. Same binary as `make run`; see docker-compose.yml for the
# full topology (PostgreSQL, Redis, migrate/seed, two instances, haproxy).

# ---- build -------------------------------------------------------------------
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libhiredis-dev libpq-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
# The manifest declares the test targets, so their folders must exist.
COPY Tests ./Tests
# .build is a BuildKit cache mount (dependencies and objects survive between
# builds), so the binary is copied out in the same step. Migrations and Lua
# scripts are compiled into it; there are no resource bundles to copy.
RUN --mount=type=cache,target=/src/.build \
    swift build -c release --product boxoffice --static-swift-stdlib \
 && bin="$(swift build -c release --show-bin-path)" \
 && mkdir -p /app \
 && cp "$bin/boxoffice" /app/

# ---- runtime -----------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libhiredis0.14 libpq5 libstdc++6 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /app --shell /usr/sbin/nologin boxoffice
COPY --from=build /app /app
# The fan's and the operator's pages (found as web/ in the working directory).
COPY web /app/web
ENV PATH=/app:$PATH \
    HOST=0.0.0.0 \
    PORT=8080
USER boxoffice
WORKDIR /app
EXPOSE 8080
ENTRYPOINT ["/app/boxoffice"]
CMD ["serve"]
