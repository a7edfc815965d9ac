import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface, type Interface } from 'node:readline';

/** How to get the PyTorch reference when it is missing (the bench never installs anything). */
export const TORCH_INSTALL_HINT = 'apt-get install python3-torch libopenblas0-pthread';

/** What the reference process says about itself. */
export interface TorchInfo {
  /** PyTorch version. */
  torch: string;
  /** Intra-op threads. */
  threads: number;
  /** BLAS libraries loaded. */
  blas: string;
  /** libgomp's OMP_WAIT_POLICY in the reference (perf.py sets PASSIVE unless the caller set it). */
  omp_wait_policy?: string;
}

/** One answer of the reference: seconds of one step, or its peak bytes. */
export interface TorchAnswer {
  seconds: number | null;
  peak_bytes: number | null;
  error?: string;
}

/**
 * Finds a Python that imports torch: `$FPT_TORCH_PYTHON`, then `python3` on the PATH, then
 * `/usr/bin/python3` (Debian's python3-torch installs there, which a pyenv shim may hide).
 * @returns the interpreter, or undefined when none has torch
 */
export function findTorchPython(): string | undefined {
  const candidates = [process.env.FPT_TORCH_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  return candidates.find(
    (py) => (py.includes('/') ? existsSync(py) : true) && spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0,
  );
}

/** A long-lived PyTorch reference process (benchmarks/torch/perf.py) answering one request per line. */
export class TorchReference {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly pending: Array<(line: string) => void> = [];
  private stderr = '';

  /**
   * @param python - the interpreter
   * @param script - path of perf.py
   */
  constructor(python: string, script: string) {
    this.child = spawn(python, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on('line', (line) => this.pending.shift()?.(line));
    this.child.on('exit', () => {
      for (const p of this.pending.splice(0))
        p(JSON.stringify({ error: `the PyTorch reference exited: ${this.stderr.trim().split('\n').at(-1) ?? ''}` }));
    });
  }

  private request<T>(body: object): Promise<T> {
    return new Promise((resolve) => {
      this.pending.push((line) => resolve(JSON.parse(line) as T));
      this.child.stdin.write(`${JSON.stringify(body)}\n`);
    });
  }

  /** Version, threads and BLAS of the reference. */
  hello(): Promise<TorchInfo> {
    return this.request({ cmd: 'hello' });
  }

  /** Times one step (built and warmed up on first use), or measures its peak memory. */
  run(spec: Record<string, unknown>, memory = false): Promise<TorchAnswer> {
    return this.request({ cmd: 'run', spec, memory });
  }

  /** Ends the process. */
  close(): void {
    this.child.stdin.end();
    this.lines.close();
  }
}
