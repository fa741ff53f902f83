// Search trees JSONL (`rstar synth` / `rstar eval --trees` output), one tree a line,
// streamed; a bad line names the file and line.
import type { ExportedTree } from '../engine/export.js';
import { InputError, jsonlLines, parseObjectLine } from './problems.js';

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
