// `rstar evolve`'s settings: a JSON config file whose every field a flag of the same name may
// override (`--rollouts 32` over "rollouts": 16). Declared once as option tables, like the
// other commands': the evolve fields below, per-round search settings, and the search's and
// backends' own options (concurrency, seed, isolation...) save those evolve sets each round.
import { readFileSync } from 'node:fs';
import { backendOptionTable } from '../backends/options.js';
import { searchOptionTable } from '../engine/options.js';
import { InputError } from '../errors.js';
import { serverUrl } from './serve.js';
import { checkOptions, withDefaults, type OptionSpec, type OptionTable, type OptionValues } from '../util/options.js';

/** What may differ from one round to the next (the top-level fields are every round's default). */
export const roundOptionTable = {
  rollouts: { type: 'integer', min: 1, default: 16, help: 'rollouts per pool problem' },
  n: { type: 'integer', min: 1, default: 8, help: 'candidate steps per expansion' },
  temperature: { type: 'number', min: 0, default: 0.7, help: "the policy's sampling temperature during the search" },
  ppm: { type: 'boolean', help: "search with the PPM trained the round before (default: from round 2 on, as rStar-Math; round 1 is terminal-guided)" },
  problems: {
    type: 'choice',
    choices: ['all', 'unsolved'],
    default: 'all',
    help: 'search the whole pool, or only the problems no earlier round solved (rStar-Math round 4 does, with more rollouts)',
  },
} as const satisfies OptionTable;

export type RoundSettings = OptionValues<typeof roundOptionTable> & { ppm: boolean };

const evolveOwn = {
  pool: { type: 'strings', required: true, content: true, help: 'problems JSONL files: the pool each round searches' },
  eval: { type: 'strings', default: [], help: 'held-out problems JSONL files, evaluated with each round\'s models' },
  evalLimit: { type: 'integer', min: 1, help: 'only the first N problems of each eval set' },
  evalRollouts: { type: 'integer', min: 1, default: 16, help: 'MCTS evaluation: rollouts per problem' },
  evalN: { type: 'integer', min: 1, default: 4, help: 'MCTS evaluation: candidate steps per expansion' },
  policy: {
    type: 'string',
    required: true,
    content: true,
    help: 'the bootstrap policy: onnx:DIR (an ONNX model dir, run in-process) or openai:URL#MODEL (a completions server that the serve command starts on each round\'s weights)',
  },
  weights: { type: 'string', content: true, help: "server policies: the bootstrap's weights dir (serve's {model} and the trainer's {base} in round 1)" },
  serve: {
    type: 'string',
    help: "server policies: the command that serves a weights dir at the policy's URL, {model} replaced by the dir (one command, run with exec), e.g. vllm serve {model} --port 8000 --served-model-name policy",
  },
  serveTimeout: { type: 'number', min: 1, default: 600, help: 'server policies: seconds to wait for URL/models to answer after starting the serve command' },
  rounds: { type: 'integer', min: 1, default: 4, help: 'rounds of self-evolution' },
  round: {
    type: 'record',
    default: {},
    content: true,
    help: 'settings of single rounds, by number: {"4": {"problems": "unsolved", "rollouts": 64}}; fields: rollouts, n, temperature, ppm, problems',
  },
  sftTop: { type: 'integer', min: 1, default: 2, content: true, help: 'SFT trajectories kept per solved problem (by mean step Q, then min step Q)' },
  heldOutPairs: {
    type: 'number',
    min: 0,
    max: 0.5,
    default: 0.1,
    content: true,
    help: "share of the pool's problems whose PPM pairs are held out of training, to measure pair accuracy",
  },
  ppmKind: {
    type: 'choice',
    choices: ['pairwise', 'reviewer'],
    default: 'pairwise',
    content: true,
    help: "pairwise: rStar-Math's PPM, a value head trained on the round's preference pairs; reviewer: a language model trained to write the question after the round's verified trajectories, whose value is how well a trajectory predicts the question (models/README.md; builtin trainer only)",
  },
  reviewerTrajectories: {
    type: 'choice',
    choices: ['sft', 'all'],
    default: 'sft',
    content: true,
    help: "reviewer PPM: learns the question from the round's SFT trajectories (the top sftTop a solved problem), or from every distinct verified trajectory with no failed code step in the latest trees, more readings of each question",
  },
  policyData: {
    type: 'strings',
    default: [],
    content: true,
    help: "builtin trainer: more SFT JSONL files {query, response} in each round's policy training, beside the round's own trajectories (e.g. some of the bootstrap's reference solutions, so that a round does not forget them)",
  },
  ppmData: {
    type: 'strings',
    default: [],
    content: true,
    help: "builtin trainer: more training files for each round's PPM, in its kind's format: pairs JSONL (pairwise) or SFT JSONL {query, response} (reviewer; e.g. the bootstrap's reference solutions)",
  },
  trainFrom: {
    type: 'choice',
    choices: ['base', 'previous'],
    default: 'base',
    content: true,
    help: "each round fine-tunes the bootstrap policy (as rStar-Math does) or the previous round's",
  },
  trainer: { type: 'choice', choices: ['builtin', 'command'], default: 'builtin', content: true, help: 'builtin: trainer/train.py (ONNX model dirs); command: your own (--policy-command, --ppm-command)' },
  trainPolicy: { type: 'record', default: {}, content: true, help: 'builtin trainer: train.py config fields for the policy (epochs, lr, batch_tokens...)' },
  trainPpm: { type: 'record', default: {}, content: true, help: 'builtin trainer: train.py config fields for the PPM' },
  policyCommand: {
    type: 'string',
    content: true,
    help: 'command trainer: a shell command that trains the policy; {data} (SFT JSONL, {prompt, completion}), {base} and {out} are replaced',
  },
  ppmCommand: {
    type: 'string',
    content: true,
    help: 'command trainer: a shell command that trains the PPM; {data} (pairs JSONL, {prompt, chosen, rejected}), {base} (this round\'s policy) and {out}',
  },
  python: { type: 'string', default: '/usr/bin/python3', help: 'builtin trainer: the Python with torch and onnx' },
} as const satisfies OptionTable;

// The search's and backends' options, less those evolve sets itself each round.
const { rollouts: _r, n: _n, answers: _a, ...searchShared } = searchOptionTable;
const { policy: _p, ppm: _m, temperature: _t, ...backendShared } = backendOptionTable;

export const evolveOptionTable = { ...evolveOwn, ...roundOptionTable, ...searchShared, ...backendShared } as const satisfies OptionTable;

export type EvolveConfig = OptionValues<typeof evolveOptionTable>;

const fieldName = (key: string) => `field "${key}"`;

/**
 * The config file's fields, then the flags given (`flags`: only those set on the command
 * line), defaults filled, every field and every round checked; errors name the file and field.
 */
export function readEvolveConfig(file: string | undefined, flags: Record<string, unknown>): EvolveConfig {
  let fromFile: Record<string, unknown> = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new InputError(`${file}: cannot read the config (${(e as Error).message})`);
    }
    try {
      fromFile = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new InputError(`${file}: not JSON (${(e as Error).message})`);
    }
    if (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile)) throw new InputError(`${file}: the config must be a JSON object`);
    for (const key of Object.keys(fromFile)) {
      if (!(key in evolveOptionTable)) throw new InputError(`${file}: unknown field "${key}" (a typo? the fields are rstar evolve's flags, in camelCase)`);
    }
  }
  const where = file ?? 'evolve';
  const config = withDefaults(evolveOptionTable, { ...fromFile, ...flags });
  try {
    checkOptions(evolveOptionTable, config, fieldName);
    for (const [r, o] of Object.entries(config.round)) {
      const n = Number(r);
      if (!(Number.isInteger(n) && n >= 1 && n <= config.rounds)) throw new InputError(`field "round": "${r}" is not a round (1..${config.rounds})`);
      if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new InputError(`field "round"."${r}" must be an object`);
      for (const key of Object.keys(o)) if (!(key in roundOptionTable)) throw new InputError(`field "round"."${r}": unknown field "${key}" (rollouts, n, temperature, ppm, problems)`);
      checkOptions(roundOptionTable, withDefaults(roundOptionTable, o as Record<string, unknown>), (key: string, _spec: OptionSpec) => `field "round"."${r}"."${key}"`);
    }
    if (config.trainer === 'command' && (config.policyCommand === undefined || config.ppmCommand === undefined)) {
      throw new InputError('the command trainer needs field "policyCommand" and field "ppmCommand"');
    }
    if (config.trainer === 'command' && config.ppmKind === 'reviewer') throw new InputError('field "ppmKind": a reviewer is trained by the builtin trainer (field "trainer": "builtin")');
    if (config.trainer === 'command') {
      for (const key of ['policyData', 'ppmData'] as const) {
        if (config[key].length > 0) throw new InputError(`field "${key}" is for the builtin trainer: the command trainer's own command reads its data`);
      }
    }
    if (roundSettings(config, 1).ppm) throw new InputError('round 1 cannot search with a PPM: none is trained before it (set "ppm" in "round" for rounds >= 2 only)');
    if (serverUrl(config.policy) !== undefined) {
      if (config.serve === undefined || !config.serve.includes('{model}')) throw new InputError('a server policy needs field "serve": the command that serves {model} at its URL');
      if (config.weights === undefined) throw new InputError('a server policy needs field "weights": the bootstrap\'s weights dir, which the serve command serves in round 1');
      // the serve command starts one server on each round's weights
      if (serverUrl(config.policy)!.includes(',')) throw new InputError('field "policy": evolve serves each round\'s weights with one serve command, at one URL (got several)');
    } else if (!config.policy.startsWith('onnx:')) {
      throw new InputError(`field "policy" must be onnx:DIR or openai:URL#MODEL (got ${config.policy})`);
    }
  } catch (e) {
    throw new InputError(`${where}: ${(e as Error).message}`);
  }
  return config;
}

/** Round r's search settings (1-based): the top-level fields, then that round's own. */
export function roundSettings(config: EvolveConfig, r: number): RoundSettings {
  const own = (config.round[String(r)] ?? {}) as Partial<RoundSettings>;
  const base = { rollouts: config.rollouts, n: config.n, temperature: config.temperature, problems: config.problems, ...(config.ppm !== undefined ? { ppm: config.ppm } : {}) };
  const merged = { ...base, ...own };
  return { ...merged, ppm: merged.ppm ?? r >= 2 };
}
