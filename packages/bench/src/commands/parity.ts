import { BACKEND_ORDER } from '@fpt/core';
import { backendLine, setUpBackend } from '../backend/setup';
import { formatLine, summaryLine, type CheckLine } from '../parity/compare';
import { checkFixture, checkFixtureAsync } from '../parity/run';

/**
 * `fpt-bench parity [--backend B] <fixture>...`: prints one line per check and the closing
 * `N passed, N failed, N skipped`; returns the exit code (1 on any FAIL). Without `--backend` the
 * checks run on the backend already active (the CLI sets the plain CPU one); with it, on that
 * backend with the fast kernels `@fpt/kernels` registers for it (the same ones the bench uses),
 * so that every backend the machine has can be checked against the fixtures.
 * @param args - fixture files, optionally with `--backend B`
 * @param print - where lines go (stdout by default)
 */
export function parityCommand(args: string[], print: (line: string) => void = console.log): number | Promise<number> {
  const at = args.findIndex((a) => a === '--backend' || a.startsWith('--backend='));
  const flag = args[at]; // undefined when at is -1
  if (flag !== undefined) {
    const backend = flag.includes('=') ? flag.slice('--backend='.length) : args[at + 1];
    if (!backend) throw new Error(`option --backend needs a value (auto, ${BACKEND_ORDER.join(', ')})`);
    const paths = args.filter((_, i) => i !== at && (flag.includes('=') || i !== at + 1));
    return setUpBackend(backend).then(async (setup) => {
      print(backendLine(setup));
      if (paths.length === 0) return usage(print);
      const all: CheckLine[] = [];
      for (const p of paths) all.push(...report(await checkFixtureAsync(p), print));
      return summarise(all, print);
    });
  }
  if (args.length === 0) return usage(print);
  return summarise(
    args.flatMap((p) => report(checkFixture(p), print)),
    print,
  );
}

function usage(print: (line: string) => void): number {
  print('usage: fpt-bench parity [--backend B] <fixture.safetensors>...');
  return 2;
}

function report(lines: CheckLine[], print: (line: string) => void): CheckLine[] {
  lines.forEach((l) => print(formatLine(l)));
  return lines;
}

function summarise(all: CheckLine[], print: (line: string) => void): number {
  print(summaryLine(all));
  return all.some((l) => l.status === 'FAIL') ? 1 : 0;
}
