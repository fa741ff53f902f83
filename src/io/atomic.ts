import { open, rename, rm, type FileHandle } from 'node:fs/promises';

/**
 * Writes a temp file next to `file` with `write`, syncs it and renames it over `file`:
 * readers see old or new, never half. The directory must exist.
 */
export async function writeFileAtomic(file: string, write: (fh: FileHandle) => Promise<void>): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const fh = await open(tmp, 'w');
    try {
      await write(fh);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export function writeTextAtomic(file: string, text: string): Promise<void> {
  return writeFileAtomic(file, (fh) => fh.writeFile(text));
}

export function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  return writeTextAtomic(file, JSON.stringify(value, null, 2) + '\n');
}
