# Switchboard: one image for both services; the first argument chooses which.
#   docker build -t switchboard:0.1.0 .
#   docker run switchboard:0.1.0 message   |   docker run switchboard:0.1.0 connect
# NODE_IMAGE: any Debian-based image with Node.js 20 and npm (the test cluster builds one locally,
# without a registry: a debootstrap root plus Node; see test/env/images.ts).
ARG NODE_IMAGE=node:20-bookworm-slim
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY proto ./proto
COPY services ./services
RUN npm run build \
 && rm -rf dist/test dist/bench dist/cdk8s

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# A fixed non-root user; the root filesystem may be read-only (only /tmp is written). Made before
# anything that changes with the code, so that its layer stays cached.
RUN groupadd --system --gid 10001 switchboard && useradd --system --uid 10001 --gid 10001 --no-create-home switchboard
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY proto ./proto
USER 10001:10001
EXPOSE 22004 21004 21005 22005
# One thread of garbage collection, on the main thread: a pod is given one core (the chart's limit),
# and V8's parallel and concurrent collector threads spend that core's time beside the main thread
# and stall it when they cannot get a core (bench/NOTES.md: "Garbage collection on helper threads").
ENTRYPOINT ["node", "--enable-source-maps", "--single-threaded-gc", "dist/services/main.js"]
CMD ["connect"]
