// The backends' options, declared once (util/options.ts derives the flags, the checks and
// what a resumed run must agree on); open.ts opens backends from them.
import { fileURLToPath } from 'node:url';
import type { OptionTable, OptionValues } from '../util/options.js';
import { simDefaults } from '../sim/policy.js';

/** The shipped model of this kind (models/ in the package), as a --policy / --ppm value. */
function defaultModel(kind: 'policy' | 'ppm'): string {
  return `onnx:${fileURLToPath(new URL(`../../models/${kind}`, import.meta.url))}`;
}

const real = (o: Record<string, unknown>) => o['policy'] !== 'sim';
const sim = (o: Record<string, unknown>) => o['policy'] === 'sim';
const onnxPolicy = (o: Record<string, unknown>) => String(o['policy']).startsWith('onnx:');

export const backendOptionTable = {
  policy: {
    type: 'string',
    default: defaultModel('policy'),
    content: true,
    help: 'step generator: sim (simulated, for testing the search), onnx:DIR (an ONNX export run in-process) or openai:URL#MODEL (an OpenAI-compatible completions server: vLLM, SGLang...; several: openai:URL1,URL2,...#MODEL)',
  },
  ppm: {
    type: 'string',
    // a simulated policy writes steps only the simulated PPM can score
    default: (o) => (o['policy'] === 'sim' ? 'sim' : defaultModel('ppm')),
    defaultHelp: `${defaultModel('ppm')}; sim with --policy sim`,
    content: true,
    help: 'step scorer: none (round 1, terminal-guided values), sim, onnx:DIR, or http:URL#MODEL (a pooling endpoint, e.g. vLLM /pooling; several: http:URL1,URL2,...#MODEL)',
  },
  isolation: {
    type: 'choice',
    choices: ['inprocess', 'fork'],
    default: 'inprocess',
    help: 'real policies: run each program in a fresh namespace of a persistent interpreter (fast; a Python-level sandbox), or in a forked child the kernel contains (seccomp, Landlock; cumulative mode only): README "Sandbox"',
  },
  execMode: {
    type: 'choice',
    choices: ['cumulative', 'incremental'],
    default: 'cumulative',
    check: (v, o) => (v === 'incremental' && o['isolation'] === 'fork' ? 'keeps interpreter states between runs: it needs --isolation inprocess' : undefined),
    help: "real policies: run each step with its block's earlier code again, or on its parent's saved interpreter state",
  },
  shareSamples: {
    type: 'boolean',
    default: true,
    help: 'onnx policy: samples of one prompt that have drawn the same tokens so far decode as one row (the same steps, less work; --no-share-samples: a row each, as other engines do)',
  },
  ppmReuse: { type: 'boolean', default: true, help: "onnx PPM: score a step on its parent's cached prefix (--no-ppm-reuse: encode the whole trajectory, as the authors do)" },
  ppmValues: {
    type: 'choice',
    choices: ['raw', 'unit'],
    default: 'raw',
    content: (o) => String(o['ppm']).startsWith('http:'),
    help: 'http PPM: the endpoint returns raw scores r (value tanh(r/5)) or values already in [-1, 1]',
  },
  temperature: { type: 'number', min: 0, default: 0.7, content: real, help: 'real policies: sampling temperature (0: greedy)' },
  topP: { type: 'number', above: 0, max: 1, default: 0.95, content: real, help: 'real policies: nucleus mass' },
  topK: { type: 'integer', min: 0, default: 0, content: onnxPolicy, help: 'onnx policy: most candidate tokens (0: no limit)' },
  maxTokens: { type: 'integer', min: 1, default: 1024, content: real, help: 'real policies: most tokens of one step' },
  maxPromptTokens: {
    type: 'integer',
    min: 1,
    content: true,
    check: (_v, o) => (onnxPolicy(o) ? undefined : 'needs an onnx policy (a server counts tokens itself)'),
    help: "onnx policy: a problem whose prompt (question and steps) passes this many tokens is refused (default: the model's context less one)",
  },
  promptTemplate: {
    type: 'string',
    content: real,
    help: "real models: the prompt around the question, with {problem} (default: the model's config.json rstar_prompt_template, else '{problem}\\n\\n')",
  },
  serverWaitS: { type: 'number', min: 0, default: 120, help: 'server models: with every server down, seconds to wait for one to come back before the run stops' },
  threads: { type: 'integer', min: 0, default: 0, help: "onnx models: ONNX Runtime's or the native kernels' threads (0: all cores)" },
  runtime: {
    type: 'choice',
    choices: ['auto', 'onnxruntime', 'native'],
    default: 'auto',
    help: "onnx models: who runs them: native (the engine's own CPU kernels over model.safetensors; the trainer's rstar-tiny models), onnxruntime (model.onnx), auto (native where it applies, unless a GPU is asked for or loads)",
  },
  kvCache: { type: 'choice', choices: ['bfloat16', 'float32'], default: 'bfloat16', help: "native kernels: how the KV cache is stored (bfloat16 halves what each decode step reads)" },
  cacheMb: { type: 'number', min: 0, default: 1024, help: "onnx models: MB of prefixes' KV kept for reuse, each model (0: no reuse)" },
  seed: { type: 'integer', default: 0, content: true, help: "seed of the simulated backends and of real policies' sampling" },
  simPCorrect: { type: 'number', min: 0, max: 1, default: simDefaults.pCorrect, content: sim, help: 'sim policy: probability of a correct step' },
  simPError: {
    type: 'number',
    min: 0,
    max: 1,
    default: simDefaults.pError,
    content: sim,
    check: (v, o) => (v + (o['simPCorrect'] as number) > 1 ? 'plus --sim-p-correct must be <= 1' : undefined),
    help: 'sim policy: probability of a code error',
  },
  simLatencyMs: { type: 'number', min: 0, default: simDefaults.latencyMs, help: 'sim policy and PPM: latency of each call' },
  simCrashOn: { type: 'string', help: 'sim policy: a problem id whose expansion kills the process (SIGKILL), to test crash recovery' },
} as const satisfies OptionTable;

export type BackendOptions = OptionValues<typeof backendOptionTable>;

/** The server (or servers, URL1,URL2,...) and model of an openai:URL#MODEL policy; undefined for another kind. */
export function serverPolicy(spec: string): { url: string; model: string } | undefined {
  const m = /^openai:(https?:\/\/[^#\s]+)#(\S+)$/.exec(spec);
  return m ? { url: m[1]!, model: m[2]! } : undefined;
}
