// The file a piscina worker runs: the compiled .js beside the caller in dist/, or the .ts
// source when the caller itself runs from source under tsx (worker threads inherit tsx's
// loader, but nothing maps a .js name to the .ts file).
import { fileURLToPath } from 'node:url';

/** callerUrl: the caller's import.meta.url; name: the worker module's path, without extension, relative to it. */
export function workerFile(callerUrl: string, name: string): string {
  const ext = callerUrl.endsWith('.ts') ? '.ts' : '.js';
  return fileURLToPath(new URL(`${name}${ext}`, callerUrl));
}
