// Opening the backends a search runs with, from the backend options (options.ts): the
// simulated ones, or a real policy (ONNX in-process or a completions server) with the real
// verifier (steps run in the sandboxed Python pool), the equivalence grader and an optional
// real PPM. Each command opens its own and disposes of them (`await using`).
import type { Grader, Policy, Ppm, SearchBackends, Verifier } from '../engine/backend.js';
import { UsageError } from '../errors.js';
import { ExactGrader } from '../grade/exact-grader.js';
import { MathGrader } from '../grade/math-grader.js';
import { SimPolicy } from '../sim/policy.js';
import { SimPpm } from '../sim/ppm.js';
import { SimVerifier } from '../sim/verifier.js';
import { ExecutorPool } from '../verify/executor-pool.js';
import { PythonVerifier } from '../verify/python-verifier.js';
import { contextOf, readConfig } from './onnx/runner.js';
import { ThreadedOnnxPolicy, ThreadedOnnxPpm } from './onnx/threaded.js';
import { serverPolicy, type BackendOptions } from './options.js';
import { renderPrompt } from '../format/prompt.js';
import type { Trace } from '../util/trace.js';
import { HttpPpm } from './server/http-ppm.js';
import { OpenAIPolicy } from './server/openai.js';

/** Opened backends: what a search runs with; disposing of them closes what they hold (threads, interpreters). */
export interface Backends extends SearchBackends, AsyncDisposable {
  /** the in-process models' own figures (prefix cache, tokens), for stats.json */
  stats(): Promise<Record<string, unknown>>;
}

type Device = 'auto' | 'cpu' | 'cuda';

class Opened implements Backends {
  policy!: Policy;
  ppm?: Ppm;
  verifier!: Verifier;
  grader!: Grader;
  /** what to close, in the order opened */
  readonly held: { close(): Promise<void> }[] = [];

  async stats(): Promise<Record<string, unknown>> {
    return {
      ...(this.policy instanceof ThreadedOnnxPolicy ? { policy: await this.policy.stats() } : {}),
      ...(this.policy instanceof OpenAIPolicy ? { policy: { servers: this.policy.fleet.figures() } } : {}),
      ...(this.ppm instanceof ThreadedOnnxPpm ? { ppm: await this.ppm.stats() } : {}),
      ...(this.ppm instanceof HttpPpm ? { ppm: { servers: this.ppm.fleet.figures() } } : {}),
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    let failure: unknown;
    for (const h of this.held.splice(0).reverse()) {
      try {
        await h.close();
      } catch (e) {
        failure ??= e;
      }
    }
    if (failure !== undefined) throw failure;
  }
}

/** Opens the backends the options name; `device` is where in-process models run (the search's --device); `trace` times the executor and grader pools. */
export async function openBackends(o: BackendOptions, device: Device, trace?: Trace): Promise<Backends> {
  const b = new Opened();
  try {
    if (o.policy === 'sim') await openSim(b, o);
    else await openReal(b, o, device, trace);
    return b;
  } catch (e) {
    await b[Symbol.asyncDispose]();
    throw e;
  }
}

async function openSim(b: Opened, o: BackendOptions): Promise<void> {
  if (o.ppm !== 'none' && o.ppm !== 'sim') throw new UsageError(`the sim policy writes simulated steps: use --ppm none or sim with it (got ${o.ppm})`);
  b.policy = new SimPolicy({ seed: o.seed, pCorrect: o.simPCorrect, pError: o.simPError, latencyMs: o.simLatencyMs, ...(o.simCrashOn !== undefined ? { crashOn: o.simCrashOn } : {}) });
  if (o.ppm === 'sim') b.ppm = new SimPpm({ seed: o.seed, latencyMs: o.simLatencyMs });
  b.verifier = new SimVerifier();
  b.grader = new ExactGrader();
}

async function openReal(b: Opened, o: BackendOptions, device: Device, trace: Trace | undefined): Promise<void> {
  if (o.ppm === 'sim') throw new UsageError('ppm sim scores simulated steps only: use --ppm none, onnx:DIR or http:URL#MODEL with a real policy');
  const template = o.promptTemplate;
  const sampling = { temperature: o.temperature, topP: o.topP, maxTokens: o.maxTokens, seed: o.seed };
  const cacheBytes = Math.round(o.cacheMb * 2 ** 20);
  const onnx = /^onnx:(.+)$/.exec(o.policy);
  const openai = serverPolicy(o.policy);
  const ppmOnnx = /^onnx:(.+)$/.exec(o.ppm);
  if (!onnx && !openai) throw new UsageError(`policy must be sim, onnx:DIR or openai:URL#MODEL, e.g. openai:http://127.0.0.1:8000/v1#Qwen2.5-Math-7B (got ${o.policy})`);
  if (onnx) {
    // steps end where the shorter context ends, so that an ONNX PPM can score prompt and step
    const context = ppmOnnx ? contextOf(readConfig(ppmOnnx[1]!)) : undefined;
    const p = await ThreadedOnnxPolicy.open({ dir: onnx[1]!, device, threads: o.threads, runtime: o.runtime, kvType: o.kvCache, topK: o.topK, shareSamples: o.shareSamples, cacheBytes, template, maxPromptTokens: o.maxPromptTokens, context, ...sampling });
    b.held.push(p);
    console.error(`rstar: policy ${onnx[1]} on ${runsOn(p.provider)} (${p.providerReason})`);
    b.policy = p;
  } else {
    const p = new OpenAIPolicy({ baseURL: openai!.url, model: openai!.model, serverWaitMs: o.serverWaitS * 1000, ...sampling, ...(template !== undefined ? { prompt: (q, steps) => renderPrompt(template, q, steps) } : {}) });
    b.held.push({ close: async () => p.fleet.close() });
    b.policy = p;
  }
  if (o.ppm !== 'none') {
    const p = await openPpm(o, device);
    b.held.push(p);
    b.ppm = p.ppm;
  }
  const pool = new ExecutorPool({ isolation: o.isolation, trace });
  b.held.push(pool);
  b.verifier = new PythonVerifier(pool, o.execMode);
  const grader = new MathGrader({ trace });
  b.held.push(grader);
  b.grader = grader;
}

/** What runs an in-process model, for the line that says so. */
function runsOn(provider: string): string {
  return provider === 'native' ? "the engine's native kernels" : `the ${provider} provider`;
}

/** A real PPM (onnx:DIR or http:URL#MODEL) alone, for a caller that scores without searching (evolve's pair accuracy); close() releases it. */
export async function openPpm(o: BackendOptions, device: Device): Promise<{ ppm: Ppm; close(): Promise<void> }> {
  const ppmOnnx = /^onnx:(.+)$/.exec(o.ppm);
  const ppmHttp = /^http:(https?:\/\/[^#\s]+)#(\S+)$/.exec(o.ppm);
  const template = o.promptTemplate;
  if (ppmOnnx) {
    const p = await ThreadedOnnxPpm.open({ dir: ppmOnnx[1]!, device, threads: o.threads, runtime: o.runtime, kvType: o.kvCache, incremental: o.ppmReuse, cacheBytes: Math.round(o.cacheMb * 2 ** 20), template });
    console.error(`rstar: ppm ${ppmOnnx[1]} (${p.head ? 'hidden state + fused native head' : p.output === 'logits' ? "reviewer: the question's log-probs" : 'score output'}) on ${runsOn(p.provider)} (${p.providerReason})`);
    return { ppm: p, close: () => p.close() };
  }
  if (ppmHttp) {
    const p = new HttpPpm({ url: ppmHttp[1]!, model: ppmHttp[2]!, values: o.ppmValues, serverWaitMs: o.serverWaitS * 1000, ...(template !== undefined ? { template } : {}) });
    return { ppm: p, close: async () => p.fleet.close() };
  }
  throw new UsageError(`ppm must be none, sim, onnx:DIR or http:URL#MODEL (got ${o.ppm})`);
}
