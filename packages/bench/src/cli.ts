#!/usr/bin/env node
// The `fpt-bench` command: one line per subcommand in COMMANDS.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { parityCommand } from './commands/parity';
import { paramsCommand } from './commands/params';
import { memoryCommand } from './commands/memory';
import { runCommand, RUN_USAGE } from './commands/run';
import { tableCommand, TABLE_USAGE } from './commands/table';
import { mergeCommand, MERGE_USAGE } from './commands/merge';
import { clusterCommand, CLUSTER_USAGE } from './commands/cluster';
import { datasetsCommand } from './commands/datasets';
import { perfCommand } from './commands/perf';

type Command = { usage: string; run: (args: string[]) => number | Promise<number> };

const onCpu = async () => {
  await tf.setBackend('cpu');
};

/** Every subcommand: add one line to add a command. */
const COMMANDS: Record<string, Command> = {
  // Parity is defined on float32 CPU (golden README): always the plain CPU backend.
  parity: {
    usage: 'parity [--backend B] <fixture.safetensors>...   check the TypeScript port against golden PyTorch fixtures',
    run: async (a) => {
      await onCpu();
      return parityCommand(a);
    },
  },
  params: {
    usage: 'params <method> --classes C [--set key=value]...   learnable and total parameters on ViT-B/16 (HF, 384)',
    run: async (a) => {
      await onCpu();
      return paramsCommand(a);
    },
  },
  memory: {
    usage:
      'memory [--methods a,b|paper|all] [--batch 16] [--classes 5] [--backend B] [--check LxB,...] [--set m.k=v]   peak step memory of each method at the paper shapes (real or validated extrapolation)',
    run: memoryCommand,
  },
  run: {
    usage: `${RUN_USAGE.replace('fpt-bench ', '')}\n      train and test every (dataset, method, seed), then print the table and write plots`,
    run: runCommand,
  },
  table: {
    usage: `${TABLE_USAGE.replace('fpt-bench ', '')}   re-render table.md, table.csv and plots from the result files in DIR`,
    run: tableCommand,
  },
  merge: {
    usage: `${MERGE_USAGE.replace('fpt-bench ', '')}   combine result folders (shards) into one table and plot set; lists missing runs`,
    run: mergeCommand,
  },
  cluster: {
    usage: `${CLUSTER_USAGE.replace('fpt-bench ', '')}\n      write a Slurm array script or a Kubernetes Indexed Job that runs the grid in shards`,
    run: clusterCommand,
  },
  datasets: { usage: 'datasets [--data-root DIR]   list the dataset presets and what the data root holds', run: datasetsCommand },
  perf: {
    usage:
      'perf [--reps 3] [--workloads W1,...] [--scale full|quick] [--backend B] [--torch auto|off|PYTHON]   speed and memory against PyTorch',
    run: perfCommand,
  },
};

const USAGE = `usage: fpt-bench <command> [args]\n\ncommands:\n${Object.values(COMMANDS)
  .map((c) => `  ${c.usage}`)
  .join('\n')}`;

async function main(argv: string[]): Promise<number> {
  tf.enableProdMode();
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  const c = COMMANDS[command];
  if (!c) {
    console.error(`fpt-bench: unknown command "${command}"\n${USAGE}`);
    return 2;
  }
  return c.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`fpt-bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
