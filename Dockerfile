# syntax=docker/dockerfile:1
# opencode-flow: the CLI and library, talking to an OpenCode server at OPENCODE_SERVER_URL.
# The 180 MB opencode binary is an optional dependency and is left out of this image:
# run OpenCode as its own container/Deployment (see deploy/).

FROM node:20-alpine AS build
WORKDIR /app
# better-sqlite3 may need a toolchain when no prebuilt binary matches.
RUN apk add --no-cache python3 make g++
COPY package.json package-lock.json ./
# The lock written by npm 11 lists only the platform packages of the machine that wrote
# it (opencode-*, rollup), so `npm ci` refuses it on another platform: install from it.
RUN npm install --omit=optional --no-audit --no-fund --ignore-scripts && npm rebuild esbuild better-sqlite3
COPY tsconfig.json tsup.config.ts ./
COPY src ./src
COPY machines ./machines
RUN npx tsup

FROM node:20-alpine AS prod-deps
WORKDIR /app
RUN apk add --no-cache python3 make g++
COPY package.json package-lock.json ./
# Production dependencies only, without the optional opencode binary; no prepare/build.
RUN npm install --omit=dev --omit=optional --no-audit --no-fund --ignore-scripts \
 && npm rebuild better-sqlite3 \
 && npm cache clean --force

FROM node:20-alpine
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json README.md ./
COPY agents ./agents
USER node
# Memory defaults to a file under the working directory; give it a writable place.
WORKDIR /home/node
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["--help"]
