# The fpt-bench image for `fpt-bench cluster k8s` (and any container scheduler): the repository at
# /app, dependencies from the lockfile, the packages built; the entrypoint is the bench CLI, so
# `docker run IMAGE run --preset quick` is `fpt-bench run --preset quick`.
# Build from the repository root: docker build -t fpt-bench:latest .
FROM node:20
RUN npm install -g pnpm@10.34.9
WORKDIR /app
COPY . .
RUN pnpm install --frozen-lockfile \
 && pnpm exec turbo run build --filter=@fpt/bench...
ENTRYPOINT ["node", "/app/packages/bench/dist/cli.js"]
CMD ["--help"]
