#!/usr/bin/env bash
# Packs every publishable (non-private) package on its own, installs the tarballs into a fresh npm
# project (tfjs from the registry), and checks that the ESM entry, the CJS entry and the type declarations all work
# for a consumer. Run after `pnpm build`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/packs" "$work/app"
# Every package that is not private is packed: a new publishable package cannot be skipped.
packed=0
for dir in "$root"/packages/*/; do
  if node -e 'process.exit(require(process.argv[1]).private === true ? 0 : 1)' "$dir/package.json"; then continue; fi
  (cd "$dir" && pnpm pack --pack-destination "$work/packs" >/dev/null)
  packed=$((packed + 1))
done
echo "packed $packed publishable packages"
cd "$work/app"
npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error "$work"/packs/*.tgz @tensorflow/tfjs-core@4.22.0 @tensorflow/tfjs-backend-cpu@4.22.0 typescript@5.9.3 >/dev/null
cat > esm.mjs <<'JS'
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { adapt, createVit, vitB16Hf384 } from '@fpt/backbone-vit';
import { fptPlus } from '@fpt/fpt-plus';
import { KvCache } from '@fpt/fpt-plus/node';
await tf.setBackend('cpu');
const m = adapt(createVit(vitB16Hf384(), { init: 'zeros' }), [fptPlus()], { numClasses: 5 });
const n = m.counts().learnable;
if (n !== 900965 || typeof KvCache !== 'function') throw new Error(`ESM consumer: unexpected ${n}`);
console.log('ESM entry points: ok');
JS
cat > cjs.cjs <<'JS'
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const { parameterReport } = require('@fpt/core');
const { atomicWriteFile } = require('@fpt/core/node');
const { createVit, vitB16Hf384 } = require('@fpt/backbone-vit');
const n = parameterReport(createVit(vitB16Hf384(), { init: 'zeros' })).total;
const x = tf.variable(tf.tensor1d([1, 2]));
const g = tf.variableGrads(() => tf.sum(tf.erf(x)), [x]).grads[x.name];
if (n !== 86859496 || typeof atomicWriteFile !== 'function' || !g) throw new Error('CJS consumer failed');
console.log('CJS entry points: ok');
JS
cat > types.ts <<'TS'
import { adapt, createVit, vitConfig, type AdaptedModel, type Method, type MethodOptions } from '@fpt/backbone-vit';
import { fptPlus, type FptOptions } from '@fpt/fpt-plus';
import { KvCache } from '@fpt/fpt-plus/node';
import { Module } from '@fpt/core';
import { gatherTokens } from '@fpt/token-select';
import { fuse } from '@fpt/fusion';
import { sideForward } from '@fpt/side-net';
import { fineGrainedPrompts } from '@fpt/prompts';
import { lora } from '@fpt/baselines';
const o: MethodOptions<FptOptions> = { sideMethods: [lora({ rank: 4 })] };
const methods: Method[] = [fptPlus(o)];
const model: AdaptedModel = adapt(createVit(vitConfig('vit-ti16')), methods);
const mod: Module = model.module;
export { mod, KvCache, gatherTokens, fuse, sideForward, fineGrainedPrompts };
TS
node esm.mjs 2>&1 | grep -v -e '^$' -e '====' -e 'Hi, looks like'
# @fpt/kernels compiles its addon at install (a compiler is present here): it must load and multiply.
cat > kernels.mjs <<'JS'
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { enableFastKernels, describeKernels } from '@fpt/kernels';
await tf.setBackend('cpu');
const r = enableFastKernels('cpu');
const c = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).dataSync()[0];
if (r.choice !== 'native' || c !== 11) throw new Error(`kernels consumer: ${describeKernels(r)}, product ${c}`);
console.log(`@fpt/kernels installed from its tarball: ${describeKernels(r)}`);
JS
node kernels.mjs
node cjs.cjs 2>&1 | grep -v -e '^$' -e '====' -e 'Hi, looks like'
npx tsc --noEmit --strict --module nodenext --moduleResolution nodenext types.ts
echo 'types (nodenext): ok'
