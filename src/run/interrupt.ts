// SIGINT / SIGTERM during a run. The first stops taking problems and lets the trees in flight
// finish for a bounded time, after which they are dropped unwritten (a resumed run searches
// them again); the command then writes its stats with "interrupted" and exits 128 + the
// signal's number. A second signal exits at once: every line already written is whole and
// fsync'ed (a torn last line is cut by the next resume).
import { constants } from 'node:os';
import type { Search } from '../engine/search.js';

/** How long the trees in flight may take to finish after the first signal. */
const graceMs = 10_000;

export interface Interrupt {
  /** the signal that stopped the run, if one did */
  readonly signal: NodeJS.Signals | undefined;
  /** removes the handlers (the run is over) */
  dispose(): void;
}

export function handleInterrupts(search: Search): Interrupt {
  let first: NodeJS.Signals | undefined;
  let timer: NodeJS.Timeout | undefined;
  const on = (signal: NodeJS.Signals) => {
    const code = 128 + constants.signals[signal];
    if (first !== undefined) {
      console.error(`\nrstar: ${signal} again: stopping now (the lines already written stay valid)`);
      process.exit(code);
    }
    first = signal;
    process.exitCode = code;
    console.error(
      `\nrstar: ${signal}: taking no new problems; the ${search.activeTrees} trees in flight get ${graceMs / 1000} s to finish, ` +
        `then are dropped (a resumed run searches them again). ${signal} again stops at once.`,
    );
    search.stop();
    timer = setTimeout(() => {
      if (search.activeTrees > 0) console.error(`rstar: dropping the ${search.activeTrees} trees still in flight`);
      search.abandon();
    }, graceMs);
    timer.unref();
  };
  const signals = ['SIGINT', 'SIGTERM'] as const;
  for (const s of signals) process.on(s, on);
  return {
    get signal() {
      return first;
    },
    dispose() {
      clearTimeout(timer);
      for (const s of signals) process.off(s, on);
    },
  };
}
