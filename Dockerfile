# syntax=docker/dockerfile:1
#
# Lotty's container image. Two stages: compile TypeScript to dist/, then a
# runtime with production dependencies only, running as the unprivileged
# `node` user.
#
# The image expects its dependencies from the environment:
#   DATABASE_URL  postgres://user:password@host:5432/lotty
#   NATS_URL      nats://host:4222 (JetStream enabled)
# It contains neither the embedded PostgreSQL binaries nor nats-server, so the
# local fallbacks of `npm start` are not available here.

# ---- build -------------------------------------------------------------------
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY gen ./gen
COPY migrations ./migrations
COPY src ./src
# The demo loader (src/cli/demo.ts) calls Lotty through the Node client package.
COPY clients/node/src ./clients/node/src
# Compiles src/, gen/, migrations/ and the client sources src/ imports into
# dist/ (migrations are listed in migrations/index.ts, so the runtime needs no
# migration sources).
RUN npm run build
# The console: a static single-page app built into dist/console, which the
# server serves at /console/. Its build tools are dev dependencies, so it is
# built here and only the output reaches the runtime image.
COPY clients/console ./clients/console
RUN npm run console:build

# ---- runtime -----------------------------------------------------------------
FROM node:24-slim AS runtime
ENV NODE_ENV=production \
    PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only. Optional dependencies are the embedded
# PostgreSQL binaries, not used in a container; none of the remaining
# packages needs an install script.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
    && npm cache clean --force
COPY --from=build /app/dist ./dist
# Files stay owned by root and read-only for the process.
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "--max-semi-space-size=16", "dist/src/main.js"]
