// glibc hands large freed blocks back to the kernel (munmap, heap trim) and maps them again
// on the next allocation. A search allocates large tensors at every decode step (ONNX Runtime's
// KV outputs, their copies into JS), so each step page-faults them in afresh; in VMs that
// return freed pages to the host that is most of the run: 100% system time with 32 problems in
// flight, 1.47x slower with 8 (npm run bench:malloc, bench/RESULTS.md). glibc reads its
// tunables only when a process starts, so the CLI starts itself again once with them (the
// trainer does the same).
import { spawn } from 'node:child_process';

export const MALLOC_TUNABLES = 'glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1000000000000';
/** set to 1 to keep the process's malloc settings (no second start) */
export const KEEP_MALLOC_ENV = 'RSTAR_KEEP_MALLOC';

/** The environment to start again with, or undefined where this process should just run. */
export function mallocRerunEnv(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): NodeJS.ProcessEnv | undefined {
  if (platform !== 'linux' || env[KEEP_MALLOC_ENV] === '1') return undefined;
  const tunables = env.GLIBC_TUNABLES ?? '';
  if (tunables.includes('glibc.malloc.mmap_max')) return undefined;
  return { ...env, GLIBC_TUNABLES: tunables ? `${tunables}:${MALLOC_TUNABLES}` : MALLOC_TUNABLES };
}

/**
 * Starts this script again with the tunables when it lacks them, passing its exit code and
 * signals through; true when it did (the caller then does nothing more).
 */
export function restartWithMallocTunables(): boolean {
  const env = mallocRerunEnv(process.env, process.platform);
  if (env === undefined) return false;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env });
  // Signals sent to this process reach the one doing the work (a terminal's Ctrl-C reaches
  // both: the second SIGINT changes nothing).
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of signals) process.on(s, () => child.kill(s));
  child.on('error', (e) => {
    console.error(`could not start ${process.execPath} again: ${e.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal === null) process.exit(code ?? 1);
    // die of the same signal, as the shell expects
    for (const s of signals) process.removeAllListeners(s);
    process.kill(process.pid, signal);
  });
  return true;
}
