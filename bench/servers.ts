// Prefix-affine routing against round-robin over several model servers, in one run.
// Run: npm run bench:servers [-- --servers 4 --problems 96 --rollouts 16 ...]
//
// The servers are the simulated continuous-batching server (src/sim/server.ts, what
// `rstar serve --policy sim` runs): a token throughput shared by the requests in flight and
// a bounded prefix cache whose hits skip their prefill. The prompt is a few-shot template
// (a shared preamble of reference solutions, then the question), as real rStar-Math prompts
// are. The search is the real Search with the OpenAI policy client over the servers and the
// simulated verifier and grader. Each mode gets fresh servers (empty caches) and the same
// problems; it reports rollouts/s, the prefix-cache hit rate (prompt tokens found in the
// cache) and the requests per server, then the ratio of the two modes.
import type { Server } from 'node:http';
import { parseArgs } from 'node:util';
import { OpenAIPolicy } from '../src/backends/server/openai.js';
import { generateProblems } from '../src/data/synthetic.js';
import { Search } from '../src/engine/search.js';
import type { Problem } from '../src/io/problems.js';
import { ExactGrader } from '../src/grade/exact-grader.js';
import { serveOpenAI } from '../src/serve/openai.js';
import { SimServerModel, simServerDefaults } from '../src/sim/server.js';
import { SimVerifier } from '../src/sim/verifier.js';

const { values } = parseArgs({
  options: {
    servers: { type: 'string', default: '4' },
    problems: { type: 'string', default: '96' },
    rollouts: { type: 'string', default: '16' },
    n: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '64' },
    'tokens-per-s': { type: 'string', default: '20000' },
    'seq-tokens-per-s': { type: 'string', default: '1000' },
    'prefill-cost': { type: 'string', default: String(simServerDefaults.prefillCost) },
    'cache-tokens': { type: 'string', default: '60000' },
  },
});
const servers = Number(values.servers);
const tokensPerS = Number(values['tokens-per-s']);
const seqTokensPerS = Number(values['seq-tokens-per-s']);
const prefillCost = Number(values['prefill-cost']);
const cacheTokens = Number(values['cache-tokens']);

// A few-shot preamble: two reference solutions of another seed, then the question.
const shots = generateProblems({ levels: [3, 5], count: 2, seed: 999 });
const template = `Solve the problem with Python code, one step at a time.\n\n${shots.map((s) => `Problem: ${s.problem}\n\n${s.solution}\n\n`).join('')}Problem: {problem}\n\n`;
const problems: Problem[] = generateProblems({ levels: [1, 2, 3, 4, 5, 6], count: Number(values.problems), seed: 3 }).map(({ id, problem, answer }) => ({ id, problem, answer }));

interface Result {
  routing: string;
  seconds: number;
  rollouts: number;
  solved: number;
  hitRate: number;
  requests: number[];
  moves: number;
}

async function run(routing: 'affinity' | 'round-robin'): Promise<Result> {
  const models = Array.from({ length: servers }, () => new SimServerModel(problems, { template, tokensPerS, seqTokensPerS, prefillCost, cacheTokens }));
  const listening: (Server & { url: string })[] = [];
  for (const m of models) listening.push(await serveOpenAI(m, { model: 'sim', host: '127.0.0.1', port: 0 }));
  const policy = new OpenAIPolicy(
    { baseURL: listening.map((s) => s.url).join(','), model: 'sim', maxRetries: 0, concurrency: 1024, prompt: (p, steps) => `${template.replace('{problem}', p.problem)}${steps.join('')}` },
    { routing },
  );
  const search = new Search(
    { rollouts: Number(values.rollouts), n: Number(values.n), concurrency: Number(values.concurrency), maxDepth: 12, policyBatch: 1024, policyConcurrency: 1024 },
    { policy, verifier: new SimVerifier(), grader: new ExactGrader() },
    () => undefined,
  );
  const t0 = performance.now();
  const stats = await search.run(
    (async function* () {
      yield* problems;
    })(),
  );
  const seconds = (performance.now() - t0) / 1000;
  const figures = models.map((m) => m.stats());
  const moves = policy.fleet.figures().reduce((a, s) => a + s.movedOff.down + s.movedOff.overloaded, 0);
  policy.fleet.close();
  for (const s of listening) {
    s.closeAllConnections();
    s.close();
  }
  return {
    routing,
    seconds,
    rollouts: stats.rollouts,
    solved: stats.solved,
    hitRate: figures.reduce((a, f) => a + f.cachedTokens, 0) / Math.max(1, figures.reduce((a, f) => a + f.promptTokens, 0)),
    requests: figures.map((f) => f.requests),
    moves,
  };
}

console.log(
  `${servers} simulated servers (${tokensPerS} tokens/s each, ${seqTokensPerS} per sequence, prefill ${prefillCost} of a decode token, ${cacheTokens}-token prefix cache); ` +
    `${problems.length} problems, ${values.rollouts} rollouts, n ${values.n}, ${values.concurrency} trees in flight; prompt preamble ${template.length - '{problem}\n\n'.length} characters`,
);
const results: Result[] = [];
for (const routing of ['round-robin', 'affinity'] as const) {
  const r = await run(routing);
  results.push(r);
  console.log(
    `${r.routing.padEnd(12)} ${r.seconds.toFixed(1).padStart(6)} s  ${(r.rollouts / r.seconds).toFixed(1).padStart(7)} rollouts/s  prefix-cache hits ${(100 * r.hitRate).toFixed(1).padStart(5)}%  ` +
      `requests per server ${r.requests.join('/')}  moves ${r.moves}  solved ${r.solved}/${problems.length}`,
  );
}
const [rr, aff] = results as [Result, Result];
console.log(`affinity / round-robin: ${(aff.rollouts / aff.seconds / (rr.rollouts / rr.seconds)).toFixed(2)}x rollouts/s; hit rate ${(100 * aff.hitRate).toFixed(1)}% vs ${(100 * rr.hitRate).toFixed(1)}%`);
