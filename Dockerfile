# Stox image: `docker build -t stox .`; run with a config mounted at /etc/stox/stox.yaml
# (docker-compose.yml does). Two stages: the build stage has the compilers better-sqlite3 may need and
# the dev dependencies tsc needs; the runtime stage has only production dependencies and dist/src.

FROM node:20-bookworm-slim AS build
# node-gyp builds better-sqlite3 from source when no prebuilt binary can be fetched.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here; better-sqlite3's own install
# script is then run on its own.
RUN npm ci --ignore-scripts --no-audit --no-fund && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bench ./bench
COPY peers ./peers
COPY demo ./demo
COPY mappings ./mappings
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY mappings ./mappings
COPY config ./config
# The SQLite store lives here (a volume in docker-compose.yml), writable by the unprivileged user.
RUN mkdir -p /var/lib/stox /etc/stox && chown node:node /var/lib/stox
USER node
# SIP on 5060 (UDP and TCP); both above 1024, so no capability is needed.
EXPOSE 5060/udp 5060/tcp
# Stox handles SIGTERM itself (graceful stop) and SIGHUP (policy reload).
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["--config", "/etc/stox/stox.yaml"]
