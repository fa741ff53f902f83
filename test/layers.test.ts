// The folders of src/ are layers (docs/ARCHITECTURE.md): a folder imports only the folders
// below it in this list, never one above, so there are no cycles between folders.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const src = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', 'src');

// top first; folders on one line are peers and must not import each other
const layers = [['cli'], ['bench'], ['evolve', 'queue'], ['run', 'data', 'serve'], ['backends'], ['sim', 'verify', 'grade'], ['engine'], ['format'], ['io'], ['util']];
const rank = new Map(layers.flatMap((peers, i) => peers.map((f) => [f, i] as const)));

function* sources(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) yield* sources(join(dir, e.name));
    else if (e.name.endsWith('.ts')) yield join(dir, e.name);
  }
}

const folderOf = (file: string) => relative(src, file).split(sep)[0]!;

test('every folder of src/ has a layer', () => {
  const folders = readdirSync(src, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  for (const f of folders) assert.ok(rank.has(f), `src/${f} is in no layer: add it to this test and to docs/ARCHITECTURE.md`);
});

test('imports point down the layers', () => {
  const wrong: string[] = [];
  for (const file of sources(src)) {
    const from = folderOf(file);
    if (!rank.has(from)) continue; // files at the top of src/ (errors.ts) are below every layer
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*['"](\.[^'"]+)['"]/g)) {
      const target = resolve(dirname(file), m[1]!);
      const to = folderOf(target);
      if (to === from || !rank.has(to)) continue;
      if (rank.get(to)! <= rank.get(from)!) wrong.push(`${relative(src, file)} imports ${relative(src, target)} (${from} -> ${to})`);
    }
  }
  assert.deepEqual(wrong, []);
});
