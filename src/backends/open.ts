// The options and backends that synth, solve and eval share: which policy, PPM, verifier
// and grader a search runs with, and the search's own settings.
import { fileURLToPath } from 'node:url';
import type { Argv } from 'yargs';
import { deviceChoices, searchDefaults, type SearchBackends, type SearchOptions } from '../engine/search.js';
import { contextOf, readConfig } from './onnx/decoder.js';
import { ThreadedOnnxPolicy, ThreadedOnnxPpm } from './onnx/threaded.js';
import { OpenAIPolicy } from './server/openai.js';
import { renderPrompt } from '../format/prompt.js';
import { SimPolicy, simDefaults } from '../sim/policy.js';
import { HttpPpm } from './server/http-ppm.js';
import { SimPpm } from '../sim/ppm.js';
import { ExactGrader } from '../grade/exact-grader.js';
import { ExecutorPool } from '../verify/executor-pool.js';
import { MathGrader } from '../grade/math-grader.js';
import { PythonVerifier } from '../verify/python-verifier.js';
import { SimVerifier } from '../sim/verifier.js';
import { UsageError } from '../errors.js';

/** The shipped model of this kind (models/ in the package), as a --policy / --ppm value. */
export function defaultModel(kind: 'policy' | 'ppm'): string {
  return `onnx:${fileURLToPath(new URL(`../../models/${kind}`, import.meta.url))}`;
}

export function modelOptions<T>(y: Argv<T>, defaults: { policy: string; ppm: string }) {
  return y
    .option('policy', { type: 'string', default: defaults.policy, describe: 'step generator: sim (simulated, for testing the search), onnx:DIR (an ONNX export run in-process) or openai:URL#MODEL (an OpenAI-compatible completions server: vLLM, SGLang...)' })
    .option('isolation', { choices: ['inprocess', 'fork'] as const, default: 'inprocess' as const, describe: "real policies: run each program in a fresh namespace of a persistent interpreter (fast; a Python-level sandbox), or in a forked child the kernel contains (seccomp, Landlock; cumulative mode only): README \"Sandbox\"" })
    .option('exec-mode', { choices: ['cumulative', 'incremental'] as const, default: 'cumulative' as const, describe: "real policies: run each step with its block's earlier code again, or on its parent's saved interpreter state" })
    // no default here: the middleware below picks it (the cast says what it then always is)
    .option('ppm', { type: 'string', default: undefined as unknown as string, defaultDescription: `${defaults.ppm}; sim with --policy sim`, describe: 'step scorer: none (round 1, terminal-guided values), sim, onnx:DIR, or http:URL#MODEL (a pooling endpoint, e.g. vLLM /pooling)' })
    // a simulated policy writes steps only the simulated PPM can score
    .middleware((argv) => {
      (argv as { ppm?: string }).ppm ??= argv['policy'] === 'sim' ? 'sim' : defaults.ppm;
    })
    .option('ppm-reuse', { type: 'boolean', default: true, describe: "onnx PPM: score a step on its parent's cached prefix (--no-ppm-reuse: encode the whole trajectory, as the authors do)" })
    .option('ppm-values', { choices: ['raw', 'unit'] as const, default: 'raw' as const, describe: 'http PPM: the endpoint returns raw scores r (value tanh(r/5)) or values already in [-1, 1]' })
    .option('temperature', { type: 'number', default: 0.7, describe: 'real policies: sampling temperature (0: greedy)' })
    .option('top-p', { type: 'number', default: 0.95, describe: 'real policies: nucleus mass' })
    .option('top-k', { type: 'number', default: 0, describe: 'onnx policy: most candidate tokens (0: no limit)' })
    .option('max-tokens', { type: 'number', default: 1024, describe: 'real policies: most tokens of one step' })
    .option('max-prompt-tokens', { type: 'number', describe: "onnx policy: a problem whose prompt (question and steps) passes this many tokens is refused (default: the model's context less one)" })
    .option('prompt-template', { type: 'string', describe: "real models: the prompt around the question, with {problem} (default: the model's config.json rstar_prompt_template, else '{problem}\\n\\n')" })
    .option('threads', { type: 'number', default: 0, describe: 'onnx models: ONNX Runtime threads (0: its default, all cores)' })
    .option('cache-mb', { type: 'number', default: 1024, describe: "onnx models: MB of prefixes' KV kept for reuse, each model (0: no reuse)" })
    .option('seed', { type: 'number', default: 0, describe: 'seed of the simulated backends and of real policies\' sampling' })
    .option('sim-p-correct', { type: 'number', default: simDefaults.pCorrect, describe: 'sim policy: probability of a correct step' })
    .option('sim-p-error', { type: 'number', default: simDefaults.pError, describe: 'sim policy: probability of a code error' })
    .option('sim-latency-ms', { type: 'number', default: simDefaults.latencyMs, describe: 'sim policy and PPM: latency of each call' });
}

export function searchOptions<T>(y: Argv<T>, defaults: Partial<SearchOptions> = {}) {
  const d = { ...searchDefaults, ...defaults };
  return y
    .option('rollouts', { type: 'number', default: d.rollouts, describe: 'rollouts per problem' })
    .option('n', { type: 'number', default: d.n, describe: 'candidate steps per expansion' })
    .option('concurrency', { type: 'number', default: d.concurrency, describe: 'trees searched at once' })
    .option('rollouts-in-flight', { type: 'number', default: d.rolloutsInFlight, describe: 'rollouts of one tree at once (virtual loss)' })
    .option('c', { type: 'number', default: d.c, describe: 'UCT exploration constant' })
    .option('max-depth', { type: 'number', default: d.maxDepth, describe: 'steps before a trajectory is cut (too deep)' })
    .option('mode', { choices: ['rstar', 'classic'] as const, default: d.mode, describe: 'UCT for unvisited children: rstar scores 0, classic visits first' })
    .option('errors-threshold', { type: 'number', default: d.errorsThreshold, describe: 'consecutive code errors that end a trajectory' })
    .option('engine', { choices: ['native', 'reference'] as const, default: d.engine, describe: 'tree engine: the C++ addon or the TypeScript reference' })
    .option('device', { choices: deviceChoices, default: d.device, describe: 'where the native engine keeps the trees: auto takes a usable CUDA GPU, else the CPU' })
    .option('policy-batch', { type: 'number', default: d.policyBatch, describe: 'most expansions in one policy call' });
}

type ModelArgs = Awaited<ReturnType<ReturnType<typeof modelOptions>['parseAsync']>> & { device: SearchOptions['device'] };
type SearchArgs = Awaited<ReturnType<ReturnType<typeof searchOptions>['parseAsync']>>;

/** The search settings given on the command line. */
export function searchFromArgs(args: SearchArgs): Partial<SearchOptions> {
  return {
    rollouts: args.rollouts,
    n: args.n,
    concurrency: args.concurrency,
    rolloutsInFlight: args['rollouts-in-flight'],
    c: args.c,
    maxDepth: args['max-depth'],
    mode: args.mode,
    errorsThreshold: args['errors-threshold'],
    engine: args.engine,
    device: args.device,
    policyBatch: args['policy-batch'],
  };
}

/** Opened backends: what to search with, what of them decides the trees (run.json), their stats. */
export interface Backends {
  backends: SearchBackends;
  content: Record<string, unknown>;
  stats: () => Promise<Record<string, unknown>>;
  close: () => Promise<void>;
}

/**
 * The simulated backends, or a real policy (ONNX in-process or a completions server) with
 * the real verifier (steps run in the sandboxed Python pool), the equivalence grader and an
 * optional real PPM.
 */
export async function openBackends(args: ModelArgs): Promise<Backends> {
  if (args.policy === 'sim') {
    if (args.ppm !== 'none' && args.ppm !== 'sim') throw new UsageError(`the sim policy writes simulated steps: use --ppm none or sim with it (got ${args.ppm})`);
    const sim = { seed: args.seed, pCorrect: args['sim-p-correct'], pError: args['sim-p-error'], latencyMs: args['sim-latency-ms'] };
    const policy = new SimPolicy(sim);
    const { latencyMs: _latency, ...simContent } = policy.options;
    return {
      backends: {
        policy,
        ...(args.ppm === 'sim' ? { ppm: new SimPpm({ seed: args.seed, latencyMs: sim.latencyMs }) } : {}),
        verifier: new SimVerifier(),
        grader: new ExactGrader(),
      },
      content: { sim: simContent },
      stats: async () => ({}),
      close: async () => {},
    };
  }
  if (args.ppm === 'sim') throw new UsageError('ppm sim scores simulated steps only: use --ppm none, onnx:DIR or http:URL#MODEL with a real policy');
  const template = args['prompt-template'];
  const sampling = { temperature: args.temperature, topP: args['top-p'], maxTokens: args['max-tokens'], seed: args.seed };
  const cacheBytes = Math.round(args['cache-mb'] * 2 ** 20);
  if (!(cacheBytes >= 0)) throw new UsageError(`cache-mb must be >= 0 (got ${args['cache-mb']})`);
  const closing: (() => Promise<void>)[] = [];
  try {
    let policy: ThreadedOnnxPolicy | OpenAIPolicy;
    const onnx = /^onnx:(.+)$/.exec(args.policy);
    const openai = /^openai:(https?:\/\/[^#\s]+)#(\S+)$/.exec(args.policy);
    const ppmOnnx = /^onnx:(.+)$/.exec(args.ppm);
    const maxPromptTokens = args['max-prompt-tokens'];
    if (maxPromptTokens !== undefined && !onnx) throw new UsageError('--max-prompt-tokens needs an onnx policy (a server counts tokens itself)');
    if (onnx) {
      // steps end where the shorter context ends, so that an ONNX PPM can score prompt and step
      const context = ppmOnnx ? contextOf(readConfig(ppmOnnx[1]!)) : undefined;
      const p = await ThreadedOnnxPolicy.open({ dir: onnx[1]!, device: args.device, threads: args.threads, topK: args['top-k'], cacheBytes, template, maxPromptTokens, context, ...sampling });
      closing.push(() => p.close());
      console.error(`rstar: policy ${onnx[1]} on the ${p.provider} provider (${p.providerReason})`);
      policy = p;
    } else if (openai) {
      policy = new OpenAIPolicy({ baseURL: openai[1]!, model: openai[2]!, ...sampling, ...(template !== undefined ? { prompt: (q, steps) => renderPrompt(template, q, steps) } : {}) });
    } else {
      throw new UsageError(`policy must be sim, onnx:DIR or openai:URL#MODEL, e.g. openai:http://127.0.0.1:8000/v1#Qwen2.5-Math-7B (got ${args.policy})`);
    }
    let ppm: ThreadedOnnxPpm | HttpPpm | undefined;
    const ppmHttp = /^http:(https?:\/\/[^#\s]+)#(\S+)$/.exec(args.ppm);
    if (ppmOnnx) {
      const p = await ThreadedOnnxPpm.open({ dir: ppmOnnx[1]!, device: args.device, threads: args.threads, incremental: args['ppm-reuse'], cacheBytes, template });
      closing.push(() => p.close());
      console.error(`rstar: ppm ${ppmOnnx[1]} (${p.head ? 'hidden state + fused native head' : p.output === 'logits' ? 'reviewer: the question\'s log-probs' : 'score output'}) on the ${p.provider} provider (${p.providerReason})`);
      ppm = p;
    } else if (ppmHttp) {
      ppm = new HttpPpm({ url: ppmHttp[1]!, model: ppmHttp[2]!, values: args['ppm-values'], ...(template !== undefined ? { template } : {}) });
    } else if (args.ppm !== 'none') {
      throw new UsageError(`ppm must be none, sim, onnx:DIR or http:URL#MODEL (got ${args.ppm})`);
    }
    if (args.isolation === 'fork' && args['exec-mode'] === 'incremental') {
      throw new UsageError('exec-mode incremental keeps interpreter states between runs: it needs --isolation inprocess');
    }
    const pool = new ExecutorPool({ isolation: args.isolation });
    const grader = new MathGrader();
    closing.push(() => pool.close(), () => grader.close());
    return {
      backends: { policy, ...(ppm ? { ppm } : {}), verifier: new PythonVerifier(pool, args['exec-mode']), grader },
      content: { sampling: { ...sampling, ...(onnx ? { topK: args['top-k'] } : {}) }, promptTemplate: template ?? null, ...(maxPromptTokens !== undefined ? { maxPromptTokens } : {}) },
      stats: async () => ({
        ...(policy instanceof ThreadedOnnxPolicy ? { policy: await policy.stats() } : {}),
        ...(ppm instanceof ThreadedOnnxPpm ? { ppm: await ppm.stats() } : {}),
      }),
      close: () => closeAll(closing),
    };
  } catch (e) {
    await closeAll(closing);
    throw e;
  }
}

async function closeAll(closing: (() => Promise<void>)[]): Promise<void> {
  for (const close of closing) await close();
}

