import cliProgress from 'cli-progress';

/** A progress indicator for one phase (preloading, an epoch, decoding). */
export interface ProgressBar {
  /** Sets the count done, with an optional short status. */
  update(done: number, info?: string): void;
  /** Ends the phase; `failed` says why it ended without finishing (no "done" is printed then). */
  stop(failed?: string): void;
}

/** Makes progress bars: cli-progress with ETA on a terminal, plain lines (start, every ~25 %, end) otherwise. */
export interface Progress {
  /** Starts a phase of `total` units. */
  bar(label: string, total: number): ProgressBar;
  /** Prints a line (above any bar). */
  log(line: string): void;
}

/**
 * Progress for this process's output.
 * @param tty - whether output is a terminal (default: stdout's isTTY)
 * @param print - line printer
 */
export function createProgress(tty = Boolean(process.stdout.isTTY), print: (line: string) => void = console.log): Progress {
  if (tty) {
    return {
      log: print,
      bar(label, total) {
        const bar = new cliProgress.SingleBar(
          {
            format: `${label.padEnd(34)} [{bar}] {value}/{total} | {duration_formatted} | ETA {eta_formatted} | {info}`,
            hideCursor: true,
            clearOnComplete: false,
            etaBuffer: 20,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, 0, { info: '' });
        return { update: (done, info) => bar.update(done, { info: info ?? '' }), stop: () => bar.stop() };
      },
    };
  }
  return {
    log: print,
    bar(label, total) {
      const started = performance.now();
      let nextMark = 0.25;
      print(`${label}: 0/${total}`);
      let last = '';
      return {
        update(done, info) {
          last = info ?? last;
          if (done / total >= nextMark && done < total) {
            const s = (performance.now() - started) / 1000;
            print(
              `${label}: ${done}/${total} (${s.toFixed(1)} s, ETA ${((s / done) * (total - done)).toFixed(0)} s)${info ? ` ${info}` : ''}`,
            );
            while (done / total >= nextMark) nextMark += 0.25;
          }
        },
        stop(failed) {
          if (failed) return print(`${label}: ${failed} after ${((performance.now() - started) / 1000).toFixed(1)} s`);
          print(`${label}: done in ${((performance.now() - started) / 1000).toFixed(1)} s${last ? ` ${last}` : ''}`);
        },
      };
    },
  };
}
