// What the benchmarks that compare two `rstar` runs share: running the built CLI (dist/) in
// a child process, and the steps of the trees a run wrote, to check both grew the same trees.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const cli = join(new URL('..', import.meta.url).pathname, 'dist', 'cli', 'main.js');

/** Runs `rstar ARGS` (with `env` over this process's), throwing with its stderr when it fails. */
export function rstar(args: string[], env: Record<string, string> = {}): void {
  const r = spawnSync(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`rstar ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}`);
}

/** The steps of every tree in DIR/trees.jsonl, trees by id, as one string to compare runs by. */
export function treeSteps(dir: string): string {
  const trees = readFileSync(join(dir, 'trees.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; nodes: { step: string }[] });
  return JSON.stringify(trees.sort((a, b) => a.id.localeCompare(b.id)).map((t) => t.nodes.map((n) => n.step)));
}
