// The progress bar of the long commands (synth, eval, grade): counts, rates and an ETA, on
// stderr, every 5 s when it is not a terminal.
import cliProgress from 'cli-progress';

export function progressBar(format: string, total: number, payload: Record<string, unknown>): cliProgress.SingleBar {
  const bar = new cliProgress.SingleBar(
    { format, noTTYOutput: true, notTTYSchedule: 5000, etaBuffer: 50, hideCursor: true, formatTime },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, payload);
  return bar;
}

/** "--" until there is a rate to estimate from (cli-progress passes "INF" or "NULL", and would print "NFs"). */
function formatTime(t: number, options: cliProgress.Options, roundTo: number): string {
  return typeof t === 'number' && Number.isFinite(t) ? cliProgress.Format.TimeFormat(t, options, roundTo) : '--';
}
