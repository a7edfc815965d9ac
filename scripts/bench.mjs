// `pnpm bench ...`: builds the bench and the packages it uses (quietly: the build log is printed
// only when the build fails), then runs `fpt-bench` with the given arguments; with none, the
// project's main job: `fpt-bench run --preset quick`.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const build = spawnSync('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=@fpt/bench...', '--output-logs=errors-only'], {
  cwd: root,
  encoding: 'utf8',
});
if (build.status !== 0) {
  process.stderr.write(`${build.stdout ?? ''}${build.stderr ?? ''}`);
  process.stderr.write('pnpm bench: building the packages failed (log above)\n');
  process.exit(build.status ?? 1);
}
const args = process.argv.slice(2);
const run = spawnSync(process.execPath, ['packages/bench/dist/cli.js', ...(args.length ? args : ['run', '--preset', 'quick'])], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(run.status ?? 1);
