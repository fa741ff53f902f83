// Search trees JSONL (`rstar synth` / `rstar eval --trees` output), one tree a line,
// streamed; a bad line names the file and line.
import type { ExportedTree } from '../engine/export.js';
import { InputError, jsonlLines, parseObjectLine } from './problems.js';

/** What is wrong with a trees.jsonl line (io/jsonl.ts reopen() checks each on resume). */
export function treeLineProblem(o: Record<string, unknown>): string | undefined {
  for (const field of ['problem', 'answer'] as const) if (typeof o[field] !== 'string') return `no string "${field}"`;
  if (!Array.isArray(o['nodes']) || o['nodes'].length === 0) return 'no "nodes" list';
  if (typeof o['rollouts'] !== 'number') return 'no number "rollouts"';
  if (typeof o['solved'] !== 'boolean') return 'no boolean "solved"';
  return undefined;
}

export async function* readTrees(file: string): AsyncGenerator<ExportedTree> {
  for await (const { line, where } of jsonlLines(file)) {
    const o = parseObjectLine(line, where);
    for (const field of ['id', 'problem', 'answer', 'nodes'] as const) {
      if (!(field in o)) throw new InputError(`${where}: field "${field}" is missing (is this a trees.jsonl from rstar synth?)`);
    }
    if (!Array.isArray(o['nodes'])) throw new InputError(`${where}: field "nodes" must be a list`);
    yield o as unknown as ExportedTree;
  }
}
