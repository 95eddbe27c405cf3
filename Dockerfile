# syntax=docker/dockerfile:1
# opencode-flow: the CLI, library and HTTP API (`serve`), talking to an OpenCode server at
# OPENCODE_SERVER_URL. The ~180 MB opencode binary (optional dependency `opencode-ai`) is
# not in this image: run OpenCode as its own container or Deployment (deploy/README.md).
#
#   docker build -t opencode-flow:0.1.0 .
#   docker run --rm -e OPENCODE_SERVER_URL=http://opencode:4096 opencode-flow:0.1.0 \
#     --agents reviewer --task "Review src/" --json

# Node 24, the active LTS (Node 20 reached its end of life on 2026-04-30; the package
# itself still supports >= 20).
# Shared by the two install stages: the manifest and lock, and the npm that wrote the lock
# (an older npm, such as Node 20's npm 10, places vitest's optional esbuild peer
# differently and calls the lock out of sync in `npm ci`). Builder stages only: the final
# image runs node, never npm.
FROM node:24-alpine AS npm
RUN npm install -g npm@11.19.1 --no-audit --no-fund
WORKDIR /app
COPY package.json package-lock.json ./
# No stage wants the ~180 MB opencode binary (the build stage installs optional
# dependencies, for esbuild's and rollup's platform builds): drop that one optional
# dependency here (in the image only; the repository's package.json and lock are untouched).
RUN npm pkg delete optionalDependencies.opencode-ai
# The store and memory backends are optional peer dependencies of the package (kept in its
# devDependencies for its own tests), so `npm ci --omit=dev` would leave them out; this image
# offers all of them (--store sqlite:/postgres://, --memory sqlite:/redis://), so here they
# become dependencies at the versions the lock holds (which `npm ci` accepts as in sync).
RUN for p in better-sqlite3 pg ioredis; do \
      npm pkg set "dependencies.$p=$(node -p "require('./package-lock.json').packages['node_modules/$p'].version")" \
      && npm pkg delete "devDependencies.$p" \
      || exit 1; \
    done

FROM npm AS build
# Every dependency with its optional platform binaries (esbuild's, and rollup's musl build
# for tsup's .d.ts pass; both are in the lock); no install scripts: the build needs none.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsup.config.ts ./
COPY src ./src
COPY machines ./machines
RUN npx tsup

FROM npm AS prod-deps
# better-sqlite3 downloads a prebuilt addon for musl; the toolchain is the fallback when
# none matches. This stage is thrown away: only node_modules leaves it.
RUN apk add --no-cache python3 make g++
# --ignore-scripts keeps the package's own `prepare` (tsup, a devDependency) from running;
# better-sqlite3 is the one production dependency with an install script.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3
# Build leftovers of better-sqlite3 (the SQLite sources and, after a source build, object
# files and a static library): only build/Release/better_sqlite3.node is loaded. The
# build fails here if the addon no longer opens a database.
RUN cd node_modules/better-sqlite3 \
 && rm -rf deps src \
 && find build -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} + \
 && find build/Release -mindepth 1 -maxdepth 1 ! -name better_sqlite3.node -exec rm -rf {} + \
 && cd /app \
 && node -e "const D = require('better-sqlite3'); const db = new D(':memory:'); db.prepare('select 1').get(); db.close()"
# superjson (for @statelyai/inspect) ships a 6.7 MB test fixture in src/; it runs from dist/.
RUN rm -rf node_modules/superjson/src \
 && node -e "require('superjson').stringify({ at: new Date(0) })"

FROM node:24-alpine
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The rest of the npm package (package.json "files"): the preset agents, the example flows
# `opencode-flow run <flow>` finds next to package.json, the flow config schema.
COPY package.json README.md LICENSE opencode-plugin.js ./
COPY agents ./agents
COPY examples ./examples
COPY schema ./schema
COPY deploy/docker/healthcheck.mjs ./healthcheck.mjs
# uid 1000, as deploy/k8s runs it. /app stays root's and read-only to it.
USER node
# Memory and stored flows default to .opencode-flow/ under the working directory.
WORKDIR /home/node
# `opencode-flow serve` (the HTTP API) listens on 5000 by default; bind it with
# `serve --host 0.0.0.0` and a token (--token or OPENCODE_FLOW_TOKEN) to publish it.
EXPOSE 5000
# GET /healthz of the serve running here, at its own --port/--host; a container that runs
# one flow instead has nothing to serve and reports healthy (see the script).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "/app/healthcheck.mjs"]
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["--help"]
