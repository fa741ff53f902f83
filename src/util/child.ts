// Child processes that die with rstar, even when rstar is killed with SIGKILL: the kernel
// sends them SIGKILL when their parent dies (PR_SET_PDEATHSIG, set by util-linux's setpriv
// before it execs the command; the setting survives exec). The child has a process group of
// its own, so a terminal's Ctrl-C reaches rstar only, which passes SIGINT and SIGTERM on once:
// a child can stop cleanly (the trainer saves a checkpoint; a second signal would kill it).
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';

const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Starts `command args` tied to rstar, in a process group of its own; stdio as given (default: inherited). */
export function spawnTied(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  return setpriv
    ? spawn(setpriv, ['--pdeathsig', 'KILL', '--', command, ...args], { stdio: 'inherit', detached: true, ...options })
    : spawn(command, args, { stdio: 'inherit', detached: true, ...options });
}

/** Runs `command args` to its end; stdio as given (default: inherited). */
export function runTied(command: string, args: readonly string[], options: SpawnOptions = {}): Promise<Exit> {
  const child = spawnTied(command, args, options);
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  const signals = ['SIGINT', 'SIGTERM'] as const;
  for (const s of signals) process.on(s, forward);
  return new Promise<Exit>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  }).finally(() => {
    for (const s of signals) process.off(s, forward);
  });
}

/** `s` as one word of a POSIX shell command line. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}
