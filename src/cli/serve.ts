// `rstar serve`: a policy behind the OpenAI completions API (src/serve/openai.ts): an ONNX
// model, for `rstar evolve`'s server policies and for anyone who wants the engine's decoding
// over HTTP; or the simulated server (sim/server.ts), a stand-in for vLLM or SGLang in
// benchmarks of several servers. Runs until SIGINT or SIGTERM.
import { basename, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import { defaultPromptTemplate, validateTemplate } from '../format/prompt.js';
import { readProblems, type Problem } from '../io/problems.js';
import { batched, serveOpenAI, type Completer } from '../serve/openai.js';
import { SimServerModel, simServerDefaults } from '../sim/server.js';

export function serveOptions(y: Argv) {
  return y
    .option('policy', { type: 'string', default: `onnx:${new URL('../../models/policy', import.meta.url).pathname}`, describe: 'the policy to serve: onnx:DIR, or sim (simulated steps for --problems at a simulated server\'s pace)' })
    .option('model-name', { type: 'string', describe: "the name clients ask for (default: the model dir's name; sim: sim)" })
    .option('host', { type: 'string', default: '127.0.0.1' })
    .option('port', { type: 'number', default: 8000, describe: 'TCP port (0: any free one; the URL is printed)' })
    .option('threads', { type: 'number', default: 0, describe: 'onnx: ONNX Runtime threads (0: its default, all cores)' })
    .option('cache-mb', { type: 'number', default: 1024, describe: "onnx: MB of prefixes' KV kept for reuse" })
    .option('batch-rows', { type: 'number', default: 128, describe: 'onnx: most sequences decoded together' })
    .option('seed', { type: 'number', describe: 'sampling seed for requests that give none (sim: the simulated policy\'s seed)' })
    .option('problems', { type: 'string', describe: 'sim: the problems JSONL the clients search (the simulated policy answers them)' })
    .option('prompt-template', { type: 'string', default: defaultPromptTemplate, describe: 'sim: the prompt template the clients use, with {problem}' })
    .option('sim-tokens-per-s', { type: 'number', default: simServerDefaults.tokensPerS, describe: 'sim: tokens per second of all sequences together (a token is a character)' })
    .option('sim-seq-tokens-per-s', { type: 'number', default: simServerDefaults.seqTokensPerS, describe: 'sim: tokens per second of one sequence alone' })
    .option('sim-prefill-cost', { type: 'number', default: simServerDefaults.prefillCost, describe: 'sim: cost of a prompt token missing from the prefix cache, in decode tokens' })
    .option('sim-cache-tokens', { type: 'number', default: simServerDefaults.cacheTokens, describe: 'sim: prefix cache size in tokens (0: none)' });
}

type ServeArgs = Awaited<ReturnType<ReturnType<typeof serveOptions>['parseAsync']>>;

export async function serve(args: ServeArgs): Promise<void> {
  if (!(Number.isInteger(args.port) && args.port >= 0 && args.port < 65536)) throw new UsageError(`serve: --port must be an integer in 0..65535 (got ${args.port})`);
  const { model, name, what, note, close } = args.policy === 'sim' ? await openSim(args) : await openOnnx(args);
  const server = await serveOpenAI(model, { model: name, host: args.host, port: args.port });
  console.error(`rstar: serving ${what} as "${name}" at ${server.url}${note ? ` (${note})` : ''}`);
  const signal = await new Promise<NodeJS.Signals>((done) => {
    process.once('SIGINT', () => done('SIGINT'));
    process.once('SIGTERM', () => done('SIGTERM'));
  });
  console.error(`rstar: ${signal}: stopping the server`);
  server.closeAllConnections();
  await new Promise<void>((done) => server.close(() => done()));
  await close();
}

interface Opened {
  model: Completer;
  name: string;
  what: string;
  note?: string;
  close: () => Promise<void>;
}

async function openOnnx(args: ServeArgs): Promise<Opened> {
  const onnx = /^onnx:(.+)$/.exec(args.policy);
  if (!onnx) throw new UsageError(`serve: --policy must be onnx:DIR or sim (got ${args.policy})`);
  const dir = resolve(onnx[1]!);
  const { OnnxPolicy } = await import('../backends/onnx/policy.js'); // onnxruntime: loaded only to serve a model
  const policy = await OnnxPolicy.open({ dir, device: 'auto', threads: args.threads, cacheBytes: Math.round(args['cache-mb'] * 2 ** 20), batchRows: args['batch-rows'], seed: args.seed });
  return { model: batched(policy), name: args['model-name'] ?? basename(dir), what: dir, note: `${policy.stats().provider} provider`, close: () => policy.close() };
}

async function openSim(args: ServeArgs): Promise<Opened> {
  if (args.problems === undefined) throw new UsageError('serve: --policy sim needs --problems: the problems the clients search');
  validateTemplate(args['prompt-template'], '--prompt-template');
  for (const key of ['sim-tokens-per-s', 'sim-seq-tokens-per-s'] as const) if (!(args[key] > 0)) throw new UsageError(`serve: --${key} must be > 0 (got ${args[key]})`);
  for (const key of ['sim-prefill-cost', 'sim-cache-tokens'] as const) if (!(args[key] >= 0)) throw new UsageError(`serve: --${key} must be >= 0 (got ${args[key]})`);
  const problems: Problem[] = [];
  for await (const p of readProblems(args.problems)) problems.push(p);
  const sim = new SimServerModel(
    problems,
    { template: args['prompt-template'], tokensPerS: args['sim-tokens-per-s'], seqTokensPerS: args['sim-seq-tokens-per-s'], prefillCost: args['sim-prefill-cost'], cacheTokens: args['sim-cache-tokens'] },
    { seed: args.seed ?? 0 },
  );
  return {
    model: sim,
    name: args['model-name'] ?? 'sim',
    what: `simulated steps for ${problems.length} problems of ${args.problems}`,
    close: async () => {
      const f = sim.stats();
      console.error(`rstar: ${f.requests} requests, ${f.promptTokens} prompt tokens (${f.promptTokens ? ((100 * f.cachedTokens) / f.promptTokens).toFixed(1) : 0}% from the prefix cache), ${f.completionTokens} completion tokens`);
    },
  };
}
