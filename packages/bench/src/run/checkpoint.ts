import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  adamwStateFromDict,
  type AdamWState,
  type OptimizerStateDict,
  type SafetensorsFile,
  type StateDict,
  type TensorEntry,
  type WritableTensor,
} from '@fpt/core';
import { atomicWriteFile, readSafetensorsFile, writeSafetensorsFile } from '@fpt/core/node';
import type { StepMemoryRecord } from '../memory/records';
import type { EpochRecord } from '../results/schema';
import { readJsonFile } from '../files/json';
import { identityMismatch, type RunIdentity } from '../results/identity';

/** The JSON beside a run's checkpoint: everything besides the tensors. `state.json` is the commit point. */
export interface CheckpointState {
  /** Format tag (`/1`: AdamW's moments by index, read for resuming runs of older versions). */
  format: 'fpt-bench-checkpoint/2' | 'fpt-bench-checkpoint/1';
  /** The identity of the run (options, data, LPM) that saved it; resuming needs an equal one. */
  identity?: RunIdentity;
  /** Last finished epoch (0-based). */
  epoch: number;
  /** The weights + optimizer file of that epoch. */
  file: string;
  /**
   * The optimizer's metadata from core's `adamwStateDict` (format, step, learning rate; its moments
   * are in `file` as `optim.m.<name>`, `optim.v.<name>`). Format `/1`: scalars and which variables
   * (by index) have moments.
   */
  optimizer: Record<string, string> | { iterations: number; learningRate: number; hasMoments: boolean[] };
  /** History so far. */
  history: EpochRecord[];
  /** Best rounded validation AUC so far and its epoch, -1 before any is kept (weights in `best.safetensors`). */
  best: { epoch: number; valAuc: number };
  /** The AUC convention that selects epochs (absent in checkpoints of older versions: probabilities). */
  auc?: 'logits' | 'probabilities';
  /** Step memory, once measured. */
  memory?: StepMemoryRecord;
  /** Seconds spent in training steps and evaluation so far, and step timing samples. */
  seconds: { train: number; eval: number; steps: number; stepCount: number };
}

/**
 * A run's checkpoints: per epoch, one safetensors file with the learnable weights (`model.<name>`,
 * core's state dict) and AdamW's moments by parameter name (`optim.m.<name>`, `optim.v.<name>`,
 * core's `adamwStateDict`, as the library's `saveOptimizerState`), then `state.json` naming it (written last, so a
 * kill at any moment leaves either the previous or the new checkpoint, never a mix), and
 * `best.safetensors` with the weights of the best validation AUC. Every write is atomic.
 */
export class RunCheckpoints {
  /** @param dir - the run's checkpoint folder */
  constructor(readonly dir: string) {}

  private get statePath(): string {
    return join(this.dir, 'state.json');
  }

  /**
   * The last committed checkpoint, or undefined. Its files are verified (data checksums, every
   * weight and moment finite, the tensors `state.json` names present), and so is `best.safetensors`.
   * @throws {@link DamagedCheckpointError} naming the file and what is wrong with it
   */
  load(
    params: ReadonlyArray<{ name: string; shape: readonly number[] }>,
  ): { state: CheckpointState; model: Map<string, TensorEntry>; optimizer: AdamWState } | undefined {
    if (!existsSync(this.statePath)) return undefined;
    const state = damaged(() => readJsonFile(this.statePath, 'a checkpoint state') as CheckpointState);
    if (state.format !== FORMAT && state.format !== 'fpt-bench-checkpoint/1')
      throw new DamagedCheckpointError(`${this.statePath}: "format" is ${JSON.stringify(state.format)}, expected "${FORMAT}"`);
    const path = join(this.dir, String(state.file));
    const file = verifiedFile(path);
    const model = new Map<string, TensorEntry>();
    const moments = new Map<string, TensorEntry>();
    for (const [name, e] of file.entries()) {
      if (name.startsWith('model.')) model.set(name.slice(6), e);
      else if (name.startsWith('optim.')) moments.set(name.slice(6), e);
    }
    const optimizer =
      state.format === FORMAT
        ? damaged(() => adamwStateFromDict(moments, state.optimizer as Record<string, string>, params, path))
        : legacyOptimizer(state, file, path, this.statePath);
    if (state.best.epoch >= 0) verifiedFile(this.bestPath);
    return { state, model, optimizer };
  }

  /**
   * Commits the checkpoint of a finished epoch and removes the previous one.
   * @param state - everything besides the tensors
   * @param model - the learnable weights (core's `stateDictAsync`)
   * @param optimizer - AdamW's state by parameter name (core's `adamwStateDict`)
   */
  save(state: Omit<CheckpointState, 'format' | 'file' | 'optimizer'>, model: StateDict, optimizer: OptimizerStateDict): void {
    mkdirSync(this.dir, { recursive: true });
    const file = `epoch-${state.epoch}.safetensors`;
    const tensors: Record<string, WritableTensor> = {};
    for (const [k, t] of Object.entries(model)) tensors[`model.${k}`] = t;
    for (const [k, t] of Object.entries(optimizer.tensors)) tensors[`optim.${k}`] = t;
    writeSafetensorsFile(join(this.dir, file), tensors, { metadata: { format: FORMAT }, checksum: true });
    const previous = existsSync(this.statePath) ? (readJsonFile(this.statePath, 'a checkpoint state') as CheckpointState).file : undefined;
    const full: CheckpointState = { format: FORMAT, file, optimizer: optimizer.metadata, ...state };
    atomicWriteFile(this.statePath, JSON.stringify(full, null, 1));
    if (previous && previous !== file) rmSync(join(this.dir, previous), { force: true });
  }

  /**
   * Why the committed checkpoint (if any) cannot be resumed by a run of `identity`, naming the
   * option that differs; undefined when there is none or it matches.
   */
  identityMismatch(identity: RunIdentity, method: string): string | undefined {
    if (!existsSync(this.statePath)) return undefined;
    let state: CheckpointState;
    try {
      state = readJsonFile(this.statePath, 'a checkpoint state') as CheckpointState;
    } catch {
      return undefined; // damaged: the run finds out when it loads it, and starts over
    }
    return identityMismatch(state.identity, identity, method);
  }

  private get bestPath(): string {
    return join(this.dir, 'best.safetensors');
  }

  /** Saves the best weights so far. */
  saveBest(model: Record<string, WritableTensor>): void {
    mkdirSync(this.dir, { recursive: true });
    writeSafetensorsFile(this.bestPath, model, { metadata: { format: 'fpt-bench-best/1' }, checksum: true });
  }

  /**
   * The best weights, verified as {@link RunCheckpoints.load} verifies.
   * @throws {@link DamagedCheckpointError} naming the file
   */
  loadBest(): Map<string, TensorEntry> {
    return new Map(verifiedFile(this.bestPath).entries());
  }

  /** Removes the folder (after the run's result is written). */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const FORMAT = 'fpt-bench-checkpoint/2';

/** AdamW's state from a checkpoint of format `/1` (moments by index), so that older runs still resume. */
function legacyOptimizer(state: CheckpointState, file: SafetensorsFile, path: string, statePath: string): AdamWState {
  const o = state.optimizer as { iterations: number; learningRate: number; hasMoments: boolean[] };
  const moments = o.hasMoments.map((has, i) => {
    if (!has) return null;
    if (!file.has(`optim.m.${i}`) || !file.has(`optim.v.${i}`))
      throw new DamagedCheckpointError(`${path}: AdamW moments optim.m.${i}/optim.v.${i} are missing, expected by ${statePath}`);
    return { m: file.get(`optim.m.${i}`).data as Float32Array, v: file.get(`optim.v.${i}`).data as Float32Array };
  });
  return { step: o.iterations, learningRate: o.learningRate, moments };
}

/** A checkpoint file that cannot be used: unreadable, not matching its checksum, or holding NaN/Inf. */
export class DamagedCheckpointError extends Error {
  override name = 'DamagedCheckpointError';
}

/** Runs a read; any failure becomes a {@link DamagedCheckpointError} with the same message. */
function damaged<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw err instanceof DamagedCheckpointError ? err : new DamagedCheckpointError((err as Error).message);
  }
}

/** Reads a checkpoint file, verifying its data checksum and that every float value is finite. */
function verifiedFile(path: string): SafetensorsFile {
  const file = damaged(() => readSafetensorsFile(path, { verifyChecksum: true }));
  for (const [name, e] of file.entries()) {
    if (!(e.data instanceof Float32Array)) continue;
    const bad = e.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0)
      throw new DamagedCheckpointError(`${path}: tensor "${name}" holds ${e.data[bad]} at index ${bad}; expected finite values`);
  }
  return file;
}
