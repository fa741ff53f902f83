// The option tables (util/options.ts): each option is declared once, and its flag, its check,
// its default and whether a resumed run must agree on it all come from that declaration.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { backendOptionTable } from '../src/backends/options.js';
import { searchDefaults, searchOptionTable } from '../src/engine/options.js';
import { planSearch } from '../src/engine/search.js';
import { UsageError } from '../src/errors.js';
import { runOptionTable } from '../src/run/options.js';
import { checkOptions, contentOf, flagName, withDefaults, type OptionTable } from '../src/util/options.js';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const cli = join(repoRoot, 'dist', 'cli', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'rstar-options-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

function rstar(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
}

test('every option of the tables is a flag of synth and eval, with its help', () => {
  for (const command of ['synth', 'eval']) {
    const help = rstar([command, '--help']).stdout;
    for (const table of [searchOptionTable, backendOptionTable, runOptionTable] as OptionTable[]) {
      for (const [key, spec] of Object.entries(table)) {
        const flag = flagName(key).length === 1 ? `-${flagName(key)} ` : `--${flagName(key)} `;
        if (spec.internal) assert.ok(!help.includes(flag), `${command}: internal option ${key} is a flag`);
        else assert.ok(help.includes(flag), `${command}: no ${flag} in its help`);
      }
    }
  }
});

test('flag names, defaults (derived after plain ones) and checks come from the table', () => {
  assert.equal(flagName('rolloutsInFlight'), 'rollouts-in-flight');
  assert.equal(flagName('simPCorrect'), 'sim-p-correct');
  assert.equal(searchDefaults.rollouts, searchOptionTable.rollouts.default);
  assert.equal(withDefaults(backendOptionTable, { policy: 'sim' }).ppm, 'sim', 'a sim policy defaults to the sim PPM');
  assert.match(withDefaults(backendOptionTable, {}).ppm, /^onnx:.*models\/ppm$/);
  assert.equal(withDefaults(backendOptionTable, { policy: 'sim', ppm: 'none' }).ppm, 'none', 'a given value wins over a derived default');

  const refuse = (f: () => void, message: RegExp) => assert.throws(f, (e: unknown) => e instanceof UsageError && message.test(e.message));
  refuse(() => planSearch({ rolloutsInFlight: 0 }), /^--rollouts-in-flight must be an integer >= 1 \(got 0\)$/);
  refuse(() => planSearch({ c: Number.NaN }), /^--c must be a number >= 0 \(got NaN\)$/);
  refuse(() => planSearch({ n: 2.5 }), /^--n must be an integer >= 1/);
  refuse(() => planSearch({ engine: 'reference', device: 'cuda' }), /^--device needs the native engine/);
  refuse(() => planSearch({ mode: 'greedy' as never }), /^--mode must be one of rstar, classic \(got "greedy"\)$/);
  // an internal option is named as the program sets it
  refuse(() => planSearch({ answers: 'vote' as never }), /^answers must be one of graded, ppm/);

  const backend = (o: Record<string, unknown>) => checkOptions(backendOptionTable, withDefaults(backendOptionTable, o));
  refuse(() => backend({ topP: 0 }), /^--top-p must be a number > 0 and <= 1 \(got 0\)$/);
  refuse(() => backend({ policy: 'sim', simPCorrect: 0.8, simPError: 0.3 }), /^--sim-p-error plus --sim-p-correct must be <= 1/);
  refuse(() => backend({ isolation: 'fork', execMode: 'incremental' }), /^--exec-mode keeps interpreter states between runs: it needs --isolation inprocess/);
  refuse(() => backend({ policy: 'openai:http://x#m', maxPromptTokens: 10 }), /^--max-prompt-tokens needs an onnx policy/);
  refuse(() => checkOptions(runOptionTable, withDefaults(runOptionTable, { out: 'x' })), /^--problems must be given$/);
  backend({ policy: 'sim' });
});

test("content: what decides the trees, and only for the backends it applies to", () => {
  const search = contentOf(searchOptionTable, searchDefaults);
  assert.deepEqual(Object.keys(search).sort(), ['answers', 'c', 'errorsThreshold', 'maxDepth', 'mode', 'n', 'rollouts', 'rolloutsInFlight']);
  const sim = contentOf(backendOptionTable, withDefaults(backendOptionTable, { policy: 'sim' }));
  assert.deepEqual(Object.keys(sim).sort(), ['policy', 'ppm', 'seed', 'simPCorrect', 'simPError']);
  const onnx = contentOf(backendOptionTable, withDefaults(backendOptionTable, { maxPromptTokens: 100 }));
  assert.deepEqual(Object.keys(onnx).sort(), ['maxPromptTokens', 'maxTokens', 'policy', 'ppm', 'seed', 'temperature', 'topK', 'topP']);
  const server = contentOf(backendOptionTable, withDefaults(backendOptionTable, { policy: 'openai:http://x#m', ppm: 'http:http://y#p', promptTemplate: 'Q: {problem}\n' }));
  assert.deepEqual(Object.keys(server).sort(), ['maxTokens', 'policy', 'ppm', 'ppmValues', 'promptTemplate', 'seed', 'temperature', 'topP']);
});

test('synth: run.json holds the content settings; a resumed run may change the others, not those', () => {
  const problems = join(root, 'problems.jsonl');
  writeFileSync(problems, [1, 2, 3].map((i) => JSON.stringify({ id: `p${i}`, problem: `What is ${i} + ${i}?`, answer: String(2 * i) }) + '\n').join(''));
  const out = join(root, 'synth');
  const base = ['synth', '--problems', problems, '--out', out, '--policy', 'sim', '--rollouts', '4', '--n', '3', '--no-progress'];
  assert.equal(rstar([...base, '--limit', '1']).status, 0);
  const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as Record<string, unknown>;
  const expected = {
    ...contentOf(searchOptionTable, { ...searchDefaults, rollouts: 4, n: 3 }),
    ...contentOf(backendOptionTable, withDefaults(backendOptionTable, { policy: 'sim' })),
    problems,
  };
  assert.deepEqual(run, expected);
  // concurrency and the engine do not change the trees: resuming with others is fine
  const resumed = rstar([...base, '--concurrency', '2', '--engine', 'reference']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming: 1 problems already/);
  const refused = rstar([...base, '--sim-p-correct', '0.5']);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /simPCorrect = 0\.75, not 0\.5/);
});

test('eval records its settings too: resuming with another --seed is refused', () => {
  const problems = join(root, 'eval-problems.jsonl');
  writeFileSync(problems, [1, 2].map((i) => JSON.stringify({ id: `e${i}`, problem: `What is ${i} + 1?`, answer: String(i + 1) }) + '\n').join(''));
  const out = join(root, 'eval');
  const base = ['eval', '--problems', problems, '--out', out, '--policy', 'sim', '--rollouts', '4', '--no-progress'];
  assert.equal(rstar(base).status, 0);
  const r = rstar([...base, '--seed', '3']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /seed = 0, not 3/);
});
