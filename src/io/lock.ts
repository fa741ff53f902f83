// An exclusive lock on a run's output directory: one run writes a directory at a time. An
// advisory flock(2) through the addon (bindings/process.cpp): the kernel drops it when its
// holder dies, kill -9 included, so a lock file left by a dead run is simply taken over.
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { requireAddon } from '../util/addon.js';
import { InputError } from '../errors.js';

/** The name of the lock file a run holds in its output directory. */
export const LOCK_FILE = '.rstar.lock';

/**
 * Takes the output directory for this process; a second run into it is refused with the
 * owner's pid. Returns the release function (the kernel releases it anyway when the process ends).
 */
export function lockOutput(dir: string): () => void {
  const file = join(dir, LOCK_FILE);
  const fd = openSync(file, 'a+');
  let taken: boolean;
  try {
    taken = (requireAddon() as { lockFile(fd: number): boolean }).lockFile(fd);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  if (!taken) {
    closeSync(fd);
    let owner = '';
    try {
      owner = readFileSync(file, 'utf8').trim();
    } catch {
      // the message does without it
    }
    throw new InputError(`${dir} is in use by another rstar run${owner ? ` (pid ${owner})` : ''}: wait for it, stop it, or use another --out`);
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`);
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    closeSync(fd); // closing drops the lock; the stale pid left in the file means nothing
  };
}
