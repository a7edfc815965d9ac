// Builds the optional native addon (build/Release/fpt_kernels.node) with the system C++ compiler.
// It runs at install time and never fails the install: without a compiler or headers it says why
// and exits 0, and @fpt/kernels then falls back to WebAssembly kernels at run time.
// The compiler is called directly rather than through node-gyp, which would download Node's
// headers from outside the npm registry; the Node-API headers come from the `node-api-headers`
// npm package (or from the running Node's own include folder).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const out = join(root, 'build', 'Release', 'fpt_kernels.node');
const say = (msg) => console.log(`@fpt/kernels: ${msg}`);

function headers() {
  try {
    const dir = createRequire(import.meta.url)('node-api-headers').include_dir;
    if (existsSync(join(dir, 'node_api.h'))) return dir;
  } catch {
    // fall through to the running Node's headers
  }
  const own = join(dirname(process.execPath), '..', 'include', 'node');
  return existsSync(join(own, 'node_api.h')) ? own : undefined;
}

function compiler() {
  const candidates = [process.env.CXX, 'c++', 'g++', 'clang++'].filter(Boolean);
  return candidates.find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
}

function main() {
  if (process.env.FPT_KERNELS_BUILD === '0') return say('native build skipped (FPT_KERNELS_BUILD=0); the WebAssembly kernels will be used');
  if (process.platform === 'win32') return say('native build is not supported on Windows; the WebAssembly kernels will be used');
  const inc = headers();
  if (!inc) return say('no Node-API headers found; the WebAssembly kernels will be used');
  const cxx = compiler();
  if (!cxx) return say('no C++ compiler found (set CXX); the WebAssembly kernels will be used');
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  // Each source becomes an object of its own: the element-wise loops are compiled once per
  // instruction set, with that set's flags (the CPU is asked at run time which one to use).
  const x64 = process.arch === 'x64';
  const units = [
    ['addon.cc'],
    ['sgemm.cc'],
    ['microkernels.cc'],
    ['peak.cc'],
    ['elementwise.cc'],
    ['ew-generic.cc'],
    ...(x64
      ? [
          ['ew-avx2.cc', '-mavx2', '-mfma'],
          ['ew-avx512.cc', '-mavx512f', '-mavx512dq', '-mavx512bw', '-mavx512vl', '-mavx2', '-mfma', '-mprefer-vector-width=512'],
        ]
      : []),
  ];
  const common = ['-O3', '-std=c++17', '-fPIC', '-pthread', '-fvisibility=hidden', '-fno-math-errno', '-fno-trapping-math'];
  const defines = ['-DNAPI_VERSION=8', '-DNODE_GYP_MODULE_NAME=fpt_kernels', `-I${inc}`];
  const objects = [];
  const fail = (r) => {
    rmSync(tmp, { force: true });
    for (const o of objects) rmSync(o, { force: true });
    return say(
      `native build failed (${cxx}); the WebAssembly kernels will be used:\n${(r.stderr || r.error?.message || '').slice(0, 2000)}`,
    );
  };
  for (const [source, ...flags] of units) {
    const object = `${tmp}-${source}.o`;
    objects.push(object);
    const r = spawnSync(cxx, [...common, ...defines, ...flags, '-c', join(here, source), '-o', object], { encoding: 'utf8' });
    if (r.status !== 0) return fail(r);
  }
  const link = ['-shared', '-pthread', ...objects, '-o', tmp];
  if (process.platform === 'darwin') link.unshift('-undefined', 'dynamic_lookup');
  const r = spawnSync(cxx, link, { encoding: 'utf8' });
  for (const o of objects) rmSync(o, { force: true });
  if (r.status !== 0) return fail(r);
  renameSync(tmp, out);
  say(`built ${out}`);
}

main();
