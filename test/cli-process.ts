// The rstar CLI as a child process of a test: its stderr collected, and a promise of how it
// ended ('close', which also waits for anything else still holding its stderr: a stray child);
// and the ids of the JSONL lines it wrote.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const cli = join(resolve(fileURLToPath(new URL('.', import.meta.url)), '..'), 'dist', 'cli', 'main.js');

export interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess & { done: Promise<Ended> } {
  const p = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Ended>((res) => p.on('close', (code, signal) => res({ code, signal, stderr })));
  return Object.assign(p, { done });
}

/** The ids of trees.jsonl's lines, in order. */
export function lineIds(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => (JSON.parse(l) as { id: string }).id);
}
