# halo-gateway: build with tsc, run the compiled JavaScript on Node 20.

# ---- build: all dependencies, compile src/ to dist/ ---------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The client SDK is a workspace of the root package (npm ci needs its manifest; the build builds it).
COPY packages/client/package.json ./packages/client/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
COPY packages ./packages
# The control center's page (built into dist/web by scripts/build-web.mjs).
COPY web ./web
RUN npm run build

# ---- runtime: production dependencies and the compiled service only ----------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
RUN npm ci --omit=dev --no-audit --no-fund \
    && npm cache clean --force
COPY --from=build /app/dist ./dist
# Read at run time relative to dist/: SQL migrations and the password list.
COPY migrations ./migrations
COPY data ./data
# .data/ holds the embedded Postgres and a generated dev secret when
# DATABASE_URL / AUTH_JWT_SECRET are unset: writable by the service user.
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
# 8080 public; 8081 internal (set INTERNAL_HOST=0.0.0.0 to reach it from
# outside the container, as docker-compose.yml does).
EXPOSE 8080 8081
# A 64 MiB young generation (V8's default is 16): at thousands of frames a
# second the default one filled several times a second, and its pauses were
# the largest part of the event-loop stalls (docs/deploy.md, Runtime flags).
CMD ["node", "--max-semi-space-size=64", "dist/main.js"]
