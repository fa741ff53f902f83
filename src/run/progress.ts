// The progress bar of the long commands (synth, eval, grade): counts, rates and an ETA, on
// stderr, every 5 s when it is not a terminal.
import cliProgress from 'cli-progress';

export interface Progress {
  update(value: number, payload?: Record<string, unknown>): void;
  /** One more item done. */
  increment(payload?: Record<string, unknown>): void;
  stop(): void;
}

/** `format` names the ETA `{left}` (cli-progress's own `{eta_formatted}` is not used: see etaSeconds). */
export function progressBar(format: string, total: number, payload: Record<string, unknown>): Progress {
  const bar = new cliProgress.SingleBar(
    { format, noTTYOutput: true, notTTYSchedule: 5000, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  const start = Date.now();
  let value = 0;
  const left = (): string => formatEta(etaSeconds(Date.now() - start, value, total));
  bar.start(total, 0, { ...payload, left: left() });
  const update = (done: number, more: Record<string, unknown> = {}): void => {
    value = done;
    bar.update(value, { ...more, left: left() });
  };
  return { update, increment: (more) => update(value + 1, more), stop: () => bar.stop() };
}

/**
 * Seconds left at the whole run's rate so far; undefined before the first item is done.
 * cli-progress estimates from its last updates only, and synth updates every 0.5 s while
 * its problems finish in bursts (32 in flight): its ETA swung by 2x within a minute.
 */
export function etaSeconds(elapsedMs: number, done: number, total: number): number | undefined {
  if (done <= 0 || elapsedMs <= 0) return undefined;
  return Math.ceil((Math.max(0, total - done) * elapsedMs) / done / 1000);
}

/** "--" until there is a rate; then cli-progress's own time format (e.g. "9m0s", "3h5m"). */
export function formatEta(seconds: number | undefined): string {
  return seconds === undefined ? '--' : cliProgress.Format.TimeFormat(seconds, { autopaddingChar: '' } as cliProgress.Options, 5);
}
