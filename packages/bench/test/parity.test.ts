import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensors, writeSafetensors, type WritableTensor } from '@fpt/core';
import { parityCommand } from '../src/commands/parity';

const golden = (f: string) => fileURLToPath(new URL(`../../../test/fixtures/golden/${f}`, import.meta.url));
const FIXTURES = ['fptplus-tiny.safetensors', 'fpt-v1-tiny.safetensors', 'timm-vit-tiny.safetensors'].map(golden);

function run(paths: string[]) {
  const lines: string[] = [];
  const code = parityCommand(paths, (l) => lines.push(l));
  return { code, lines };
}

/** A copy of a golden fixture with tensors changed, added or removed. */
function variant(name: string, edit: (t: Map<string, WritableTensor>, md: Record<string, string>) => void): string {
  const file = readSafetensors(readFileSync(golden(name)), name);
  const tensors = new Map<string, WritableTensor>();
  for (const [k, e] of file.entries()) tensors.set(k, { dtype: e.dtype, shape: e.shape, data: e.data.slice() });
  const md = { ...file.metadata };
  edit(tensors, md);
  const path = join(mkdtempSync(join(tmpdir(), 'parity-')), name);
  writeFileSync(path, writeSafetensors(tensors, { metadata: md }));
  return path;
}

describe('fpt-bench parity', () => {
  it('reproduces every tensor of every golden fixture, with nothing skipped', () => {
    const before = tf.memory().numTensors;
    const { code, lines } = run(FIXTURES);
    expect(lines.filter((l) => !l.startsWith('PASS'))).toEqual([lines.at(-1)]);
    expect(lines.at(-1)).toMatch(/^\d+ passed, 0 failed, 0 skipped$/);
    // Every expected.* tensor and every count was checked.
    let expected = 0;
    for (const f of FIXTURES) {
      const file = readSafetensors(readFileSync(f));
      expected +=
        file.names().filter((n) => n.startsWith('expected.')).length + Object.keys(JSON.parse(file.metadata.counts ?? '{}')).length;
    }
    expect(lines.at(-1)).toBe(`${expected} passed, 0 failed, 0 skipped`);
    expect(lines).toContain('PASS fptplus-tiny.safetensors expected.lpm.indices maxabs=0.000e+0 tol=0');
    expect(code).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('matches every gradient to 1e-4 of its own scale, far inside the absolute tolerance', () => {
    // The absolute 1e-4 of the golden README would let a small gradient be entirely wrong; check
    // each gradient tensor against its own magnitude as well (skipping the mathematically zero
    // key-bias gradients, which are float noise around 1e-10).
    for (const f of FIXTURES.slice(0, 2)) {
      const file = readSafetensors(readFileSync(f));
      const { lines } = run([f]);
      for (const name of file.names().filter((n) => n.startsWith('expected.grad.'))) {
        const scale = Array.from(file.get(name).data).reduce((a, x) => Math.max(a, Math.abs(x)), 0);
        if (scale < 1e-6) continue;
        const line = lines.find((l) => l.split(' ')[2] === name)!;
        const maxabs = Number(/maxabs=(\S+)/.exec(line)![1]);
        expect(maxabs, name).toBeLessThanOrEqual(1e-4 * scale);
      }
    }
  });

  it('fails a perturbed tensor, and exits non-zero', () => {
    const path = variant('fptplus-tiny.safetensors', (t) => {
      const g = t.get('expected.grad.fusion_module.out_proj.weight')!;
      (g.data as Float32Array)[3]! += 0.01;
    });
    const { code, lines } = run([path]);
    expect(lines.find((l) => l.includes('expected.grad.fusion_module.out_proj.weight'))).toMatch(
      /^FAIL fptplus-tiny.safetensors expected.grad.fusion_module.out_proj.weight maxabs=1\.00\de-2 tol=0.0001$/,
    );
    expect(lines.at(-1)).toMatch(/^\d+ passed, 1 failed, 0 skipped$/);
    expect(code).toBe(1);
  });

  it('fails on a tensor it does not know and on a wrong count', () => {
    const path = variant('timm-vit-tiny.safetensors', (t, md) => {
      t.set('expected.timm.mystery', { dtype: 'float32', shape: [1], data: [0] });
      md.counts = JSON.stringify({ params: 95284 });
    });
    const { code, lines } = run([path]);
    expect(lines).toContain(
      'FAIL timm-vit-tiny.safetensors expected.timm.mystery maxabs=n/a tol=0 (unknown tensor: not an input or expected output of this fixture kind)',
    );
    expect(lines).toContain(
      'FAIL timm-vit-tiny.safetensors counts.params maxabs=1.000e+0 tol=0 (built model has 95285, metadata says 95284)',
    );
    expect(code).toBe(1);
  });

  it('fails on an unreadable fixture, naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'parity-'));
    const bad = join(dir, 'bad.safetensors');
    writeFileSync(bad, new Uint8Array([1, 2, 3]));
    const { code, lines } = run([bad, join(dir, 'missing.safetensors')]);
    expect(lines[0]).toMatch(/^FAIL .*bad.safetensors \(fixture\) maxabs=n\/a tol=0 \(safetensors: .*bad.safetensors: file is 3 bytes/);
    expect(lines[1]).toMatch(/^FAIL .*missing.safetensors \(fixture\) .*cannot read file/);
    expect(lines.at(-1)).toBe('0 passed, 2 failed, 0 skipped');
    expect(code).toBe(1);
  });

  it('fails a config it cannot honour, naming the field', () => {
    const path = variant('fptplus-tiny.safetensors', (_t, md) => {
      const config = JSON.parse(md.config ?? '{}');
      config.lpm.naming = 'keras';
      md.config = JSON.stringify(config);
    });
    expect(run([path]).lines[0]).toBe(
      'FAIL fptplus-tiny.safetensors (fixture) maxabs=n/a tol=0 (fptplus-tiny.safetensors config.lpm: "naming" must be "hf" or "timm", got "keras")',
    );
  });

  it('fails a fixture of an unknown kind or format', () => {
    const path = variant('timm-vit-tiny.safetensors', (_t, md) => {
      md.kind = 'resnet';
    });
    expect(run([path]).lines[0]).toBe(
      'FAIL timm-vit-tiny.safetensors (fixture) maxabs=n/a tol=0 (unknown kind "resnet", expected "fpt" or "timm-vit")',
    );
    const path2 = variant('timm-vit-tiny.safetensors', (_t, md) => {
      md.format = 'other/2';
    });
    expect(run([path2]).lines[0]).toContain('metadata "format" is "other/2", expected "fpt-parity/1"');
  });
});

describe('fpt-bench params', () => {
  it('prints the FPT+ and FPT v1 counts of docs/method.md, built from the models', async () => {
    const { paramsCommand } = await import('../src/commands/params');
    const out: string[] = [];
    expect(paramsCommand(['fpt-plus', '--classes', '5'], (l) => out.push(l))).toBe(0);
    expect(out.at(-1)).toBe('learnable=900965 total=87760461 share=1.0266%');
    out.length = 0;
    paramsCommand(['fpt', '--classes=5'], (l) => out.push(l));
    expect(out.at(-1)).toBe('learnable=1602341 total=88461837 share=1.8113%');
    out.length = 0;
    paramsCommand(['fpt-plus', '--classes', '5', '--set', 'prompts=8'], (l) => out.push(l));
    // 8 fewer prompts per layer: 6 x 8 x 768 fewer prompt weights.
    expect(out.at(-1)).toBe(`learnable=${900965 - 6 * 8 * 768} total=${87760461 - 6 * 8 * 768} share=0.9850%`);
    expect(() => paramsCommand(['fpt-plus', '--set', 'rank=4'], () => {})).toThrow('fpt-plus: unknown option "rank"');
    expect(() => paramsCommand(['nope'], () => {})).toThrow(/unknown method "nope"/);
    expect(() => paramsCommand(['fpt', '--clases', '5'], () => {})).toThrow(/unknown option --clases/);
  });
});

describe('fpt-bench params for the baselines', () => {
  it("prints docs/method.md's shares for LoRA, VPT-deep, Houlsby adapters and full fine-tuning", async () => {
    const { paramsCommand } = await import('../src/commands/params');
    const last = (argv: string[]) => {
      const out: string[] = [];
      expect(paramsCommand(argv, (l) => out.push(l))).toBe(0);
      return out.at(-1);
    };
    expect(last(['lora', '--classes', '5'])).toBe('learnable=593669 total=87453165 share=0.6788%');
    expect(last(['vpt-deep', '--classes', '5'])).toBe('learnable=151301 total=87010797 share=0.1739%');
    expect(last(['adapter-houlsby', '--classes', '5'])).toBe('learnable=1792901 total=88652397 share=2.0224%');
    expect(last(['full', '--classes', '5'])).toBe('learnable=86094341 total=86094341 share=100.0000%');
    expect(last(['lora', '--classes', '5', '--set', 'rank=8'])).toBe(
      `learnable=${294912 + 3845} total=${86859496 + 294912 + 3845} share=${((100 * (294912 + 3845)) / (86859496 + 294912 + 3845)).toFixed(4)}%`,
    );
    expect(() => paramsCommand(['lora', '--set', 'targets=attn.nope'], () => {})).toThrow('lora: target "attn.nope" matches no layer');
  });
});
