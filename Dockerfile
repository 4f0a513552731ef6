# jobwire's container image.
#
#   docker build -t jobwire:0.1.0 .
#   docker run --rm -p 8080:8080 -v "$PWD/examples:/etc/jobwire:ro" jobwire:0.1.0 \
#     serve -c /etc/jobwire/jobwire.yaml --host 0.0.0.0
#
# Runs as an unprivileged user (10001) and with any other UID: OpenShift's restricted SCC
# starts containers with a random UID in group 0, so everything jobwire writes (/var/lib/jobwire)
# belongs to group 0 and is group-writable. Nothing else needs to be writable: the root file
# system can be read-only (deploy/ mounts /tmp and the data folder).

# --- build: compile TypeScript, then drop the dev dependencies -----------------------------
FROM node:20-bookworm-slim AS build
# better-sqlite3 downloads a prebuilt binary; the toolchain is only for platforms without one.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# --- runtime -------------------------------------------------------------------------------
FROM node:20-bookworm-slim
# tini as PID 1: forwards SIGTERM (jobwire drains on it) and reaps orphans of local jobs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist/src ./dist/src
RUN mkdir -p /var/lib/jobwire /etc/jobwire \
 && chown -R 10001:0 /var/lib/jobwire \
 && chmod -R g=u /var/lib/jobwire
USER 10001
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/jobwire.js"]
CMD ["serve", "--config=/etc/jobwire/jobwire.yaml", "--host=0.0.0.0", "--port=8080", "--data-dir=/var/lib/jobwire"]
