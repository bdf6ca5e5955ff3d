# syntax=docker/dockerfile:1
# Build: compile TypeScript with the dev dependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime: production dependencies and the compiled service only, as a non-root user.
FROM node:24-bookworm-slim AS runtime
LABEL org.opencontainers.image.title="logout-receiver" \
      org.opencontainers.image.description="Receives OpenID Connect front- and back-channel logouts and removes the signed-out user's accounts from the MSAL token caches of every registered app" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="0.1.0"
ENV NODE_ENV=production PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY openapi.yaml ./
# Numeric, so that Kubernetes' runAsNonRoot can check it (the image's node user); nothing is written to
# the filesystem at run time, so a read-only root filesystem works.
USER 1000:1000
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.MANAGEMENT_PORT||process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node runs as PID 1 and handles SIGTERM itself: /readyz 503, serve shutdownDelaySeconds, stop accepting, finish in-flight requests, close stores.
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
