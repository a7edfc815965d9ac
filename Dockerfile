# The fpt-bench image for `fpt-bench cluster k8s` (and any container scheduler): the repository at
# /app, dependencies from the lockfile, the packages built; the entrypoint is the bench CLI, so
# `docker run IMAGE run --preset quick` is `fpt-bench run --preset quick`.
# Build from the repository root: docker build -t fpt-bench:latest .
FROM node:20
# WebGPU (the `webgpu` package, Google's Dawn) reaches the GPU through Vulkan: the loader comes from
# Debian; the driver's Vulkan ICD is mounted by the NVIDIA container runtime when the graphics
# capability is asked for (AMD/Intel: the host's Mesa/driver ICD mounted or installed in the image).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvulkan1 \
 && rm -rf /var/lib/apt/lists/*
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics
RUN npm install -g pnpm@10.34.9
WORKDIR /app
COPY . .
RUN pnpm install --frozen-lockfile \
 && pnpm exec turbo run build --filter=@fpt/bench...
ENTRYPOINT ["node", "/app/packages/bench/dist/cli.js"]
CMD ["--help"]
