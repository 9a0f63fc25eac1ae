# syntax=docker/dockerfile:1
# One image per app, from the repository root (the npm workspace the apps, @orders/common and @orders/contract belong to):
#   docker build --build-arg APP=order-store -t order-store .
#   docker build --build-arg APP=order-generator -t order-generator .
#
# build  installs the app's, @orders/common's, @orders/contract's and the root's build tools' packages from the lockfile,
#        then `npm run build`: tsc, then esbuild bundles the app and every package it loads into
#        dist/bundle.js.
# run    node:26-slim with that one file: no node_modules, no sources. It writes nothing to disk, so
#        it runs on a read-only root filesystem. Kubernetes' probes (deploy/) check its health.
ARG NODE_IMAGE=node:26-slim
ARG APP=order-store

FROM ${NODE_IMAGE} AS build
ARG APP
WORKDIR /app
COPY package.json package-lock.json tsconfig.base.json ./
COPY packages/common/package.json packages/common/
COPY packages/contract/package.json packages/contract/
COPY apps/${APP}/package.json apps/${APP}/
RUN npm ci --workspace packages/common --workspace packages/contract --workspace apps/${APP} --include-workspace-root \
      --ignore-scripts --no-audit --no-fund
COPY packages/common/tsconfig.json packages/common/topology.json packages/common/
COPY packages/common/src packages/common/src
COPY packages/contract/tsconfig.json packages/contract/
COPY packages/contract/src packages/contract/src
COPY apps/${APP}/tsconfig.json apps/${APP}/
COPY apps/${APP}/src apps/${APP}/src
RUN npm run build --workspace apps/${APP}

FROM ${NODE_IMAGE} AS run
ARG APP
# Libraries' production behaviour (express: no stack traces in its own error pages).
ENV NODE_ENV=production
WORKDIR /app/apps/${APP}
COPY --from=build /app/apps/${APP}/dist/bundle.js dist/bundle.js
# Numeric, so that Kubernetes' runAsNonRoot can verify it; uid 1000 is the image's `node` user.
USER 1000:1000
# --max-old-space-size-percentage: V8's old generation may take half the memory limit Node reads from the container's cgroup; the rest of the process the other half.
# --disable-warning: node-fetch 2, the Dapr SDK's HTTP client, calls url.parse and punycode; Node mutes that only under node_modules, which a bundle is not.
CMD ["node", "--max-old-space-size-percentage=50", "--disable-warning=DEP0040", "--disable-warning=DEP0169", "dist/bundle.js"]
