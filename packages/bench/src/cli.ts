#!/usr/bin/env node
// The `fpt-bench` command. Subcommands: parity, params, memory.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { parityCommand } from './parity/run';
import { paramsCommand } from './commands/params';
import { memoryCommand } from './commands/memory';
import { perfCommand } from './commands/perf';

const USAGE = `usage: fpt-bench <command> [args]

commands:
  parity <fixture.safetensors>...   check the TypeScript port against golden PyTorch fixtures
  params <method> --classes C [--set key=value]...
                                    learnable and total parameters on ViT-B/16 (HF, 384)
  memory [--batch 16] [--classes 5] [--backend B]
                                    peak training-step memory: FPT+ vs full fine-tuning at the paper's shapes`;

async function main(argv: string[]): Promise<number> {
  tf.enableProdMode();
  const [command, ...rest] = argv;
  switch (command) {
    case 'parity':
      // Parity is defined on float32 CPU (golden README): always the plain CPU backend.
      await tf.setBackend('cpu');
      return parityCommand(rest);
    case 'params':
      await tf.setBackend('cpu');
      return paramsCommand(rest);
    case 'memory':
      return memoryCommand(rest);
    case 'perf':
      return perfCommand(rest);
    case undefined:
    case '-h':
    case '--help':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`fpt-bench: unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`fpt-bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
