// The simulated model server (sim/server.ts) that bench/servers.ts and `rstar serve --policy
// sim` run: the simulated policy's steps for prompts of known problems, refusals for others,
// and a prefix cache that finds whole leading blocks, keyed by their whole prefix, least
// recently used out first.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimPolicy } from '../src/sim/policy.js';
import { SimServerModel } from '../src/sim/server.js';

const problems = [
  { id: 'a', problem: 'What is 2 + 3?', answer: '5' },
  { id: 'b', problem: 'What is 4 + 4?', answer: '8' },
];
const template = 'Solve it.\n{problem}\n\n';
const fast = { template, tokensPerS: 1e9, seqTokensPerS: 1e9, blockTokens: 4 };

test('the steps are the simulated policy\'s for the prompt\'s problem and steps; an unknown prompt is refused', async () => {
  const server = new SimServerModel(problems, fast, { seed: 3 });
  const policy = new SimPolicy({ seed: 3 });
  const [first] = await policy.generate([{ problem: problems[0]!, steps: [], n: 3 }]);
  const step = first!.find((s) => s.endsWith('<end_of_step>'))!;
  const [second] = await policy.generate([{ problem: problems[0]!, steps: [step], n: 3 }]);
  const out = await server.complete([`Solve it.\nWhat is 2 + 3?\n\n`, `Solve it.\nWhat is 2 + 3?\n\n${step}`, 'Solve it.\nWhat is 9 + 9?\n\n'], 3);
  assert.deepEqual(out.texts[0], first);
  assert.deepEqual(out.texts[1], second);
  assert.match((out.texts[2] as { refused: string }).refused, /no simulated problem starts this prompt/);
  assert.equal(out.completionTokens, [...first!, ...second!].join('').length);
});

test('prefix cache: whole leading blocks hit, a changed block ends the hit, the least recently used block goes first', async () => {
  const server = new SimServerModel(problems, { ...fast, cacheTokens: 4 * 6 }, { seed: 1 });
  const a = 'Solve it.\nWhat is 2 + 3?\n\n'; // 26 characters: 6 whole blocks of 4
  const b = 'Solve it.\nWhat is 4 + 4?\n\n';
  await server.complete([a], 1);
  assert.equal(server.stats().cachedTokens, 0);
  await server.complete([a], 1);
  assert.equal(server.stats().cachedTokens, 24);
  // b shares "Solve it.\nWhat is " (4 whole blocks) with a, then differs
  await server.complete([b], 1);
  assert.equal(server.stats().cachedTokens, 24 + 16);
  // the cache holds 6 blocks: b's 2 new ones pushed out a's last 2, the least recently used
  await server.complete([a], 1);
  assert.equal(server.stats().cachedTokens, 24 + 16 + 16);
  assert.equal(server.stats().promptTokens, 26 * 4);
  assert.equal(server.stats().requests, 4);
});
