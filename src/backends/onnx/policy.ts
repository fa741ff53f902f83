// A policy run in-process by onnxruntime-node: a decoder-only ONNX export with a KV cache
// (see src/backends/onnx/decoder.ts for the I/O convention) and its tokenizer.json.
//
// One generate() call: every request's prompt is encoded once, on top of the longest
// cached prefix (a child's prompt is its parent's plus one step, so usually only that step
// is new); its n samples then share that prompt's KV and decode together with every other
// request's samples, ragged, each stopping at its own stop token. Samples that have drawn the
// same tokens so far are one row of the batch until they draw different ones (decode()).
// Finished rows are dropped from the batch once they are half of it.
//
// The model's context bounds both: a prompt is refused when it leaves no position for a step
// (more than context - 1 tokens, or more than maxPromptTokens), and a step stops where the
// context ends, as at maxTokens (cut there, it has no stop token and reads as invalid). So a
// prompt and its step always fit, which is what the PPM scores. Refusing rather than reserving
// maxTokens positions keeps deep trajectories searchable: steps are far shorter than maxTokens.
import { join } from 'node:path';
import { Decoder, decoderDefaults, type DecoderChoice, type SeqKv } from './decoder.js';
import { contextOf } from './runner.js';
import { PrefixCache, type PrefixCacheStats } from './prefix-cache.js';
import { sampleToken, validateSampling, type SamplingOptions } from './sampler.js';
import { Tokenizer } from './tokenizer.js';
import { hashKey, rng } from '../../util/random.js';
import { stopStrings } from '../../format/step.js';
import type { Policy, Refused, StepRequest } from '../../engine/backend.js';
import { modelTemplate, promptSegments } from '../../format/prompt.js';
import { UsageError } from '../../errors.js';

/** DecoderChoice: the device, the runtime, the native kernels' cache type, threads */
export interface OnnxPolicyOptions extends SamplingOptions, DecoderChoice {
  /** the model dir: model.onnx (or model.safetensors), config.json, tokenizer.json */
  dir: string;
  /** most new tokens of one step */
  maxTokens: number;
  seed?: number | undefined;
  /** most sequences decoded together */
  batchRows: number;
  /** most padded tokens in one prompt-encoding run; 0 = from the vocabulary size */
  prefillTokens: number;
  /** bytes of prefix KV kept for reuse; 0 turns prefix reuse off */
  cacheBytes: number;
  /** also keep each generated step's KV, so expanding that child encodes almost nothing */
  cacheSteps: boolean;
  /** samples of a request with the same tokens so far decode as one row (the same texts, less work; off only to measure it) */
  shareSamples: boolean;
  /** the prompt around the question; undefined: config.json's rstar_prompt_template or the plain one */
  template?: string | undefined;
  /** positions a prompt and its step may fill: the model's context (config.json), or fewer (a shorter PPM's) */
  context?: number | undefined;
  /** a lower limit on prompt tokens than the context's */
  maxPromptTokens?: number | undefined;
}

export const onnxPolicyDefaults: Omit<OnnxPolicyOptions, 'dir'> = {
  ...decoderDefaults,
  temperature: 0.7,
  topP: 0.95,
  topK: 0,
  maxTokens: 256,
  batchRows: 32,
  prefillTokens: 0,
  cacheBytes: 1 << 30,
  cacheSteps: true,
  shareSamples: true,
};

export interface OnnxPolicyStats {
  provider: string;
  providerReason: string;
  calls: number;
  /** candidate steps generated */
  steps: number;
  /** requests refused: their prompt passed promptLimit */
  refusedPrompts: number;
  generatedTokens: number;
  decodeSteps: number;
  /** batch rows the decode steps ran (a row carries the samples that have the same tokens so far; a finished row costs until the batch is compacted) */
  decodeRows: number;
  /** prompt tokens encoded and reused (from the prefix cache) */
  prefix: PrefixCacheStats;
  modelMs: number;
}

/** Positions of room a decode batch's cache starts with (decode()). */
const INITIAL_ROOM = 64;

/** One sequence being decoded: a sample of a request's prompt. */
interface Sample {
  request: number;
  prompt: number[];
  kv: SeqKv;
  tokens: number[];
  /** the most tokens of this step: maxTokens, or fewer where the context ends */
  room: number;
  random: () => number;
  text?: string;
}

export class OnnxPolicy implements Policy {
  readonly name = 'onnx';
  readonly options: OnnxPolicyOptions;
  readonly template: string;
  private readonly cache: PrefixCache;
  private readonly stopIds: Set<number>;
  /** EOS ends a sample without being part of its text */
  private readonly eos: Set<number>;
  /** stop strings that are not one token: found in the decoded text instead */
  private readonly textStops: string[];
  private readonly prefillTokens: number;
  /** positions a prompt and its step may fill; Infinity when the model does not say */
  readonly context: number;
  /** the most tokens of a prompt run: one position must be left for the step */
  readonly promptLimit: number;
  private readonly counters = { calls: 0, steps: 0, refusedPrompts: 0, generatedTokens: 0, decodeSteps: 0, decodeRows: 0, modelMs: 0 };

  private constructor(
    readonly decoder: Decoder,
    readonly tokenizer: Tokenizer,
    options: OnnxPolicyOptions,
    eos: number[],
    template: string,
  ) {
    this.options = options;
    this.template = template;
    this.cache = new PrefixCache(options.cacheBytes);
    this.stopIds = new Set(eos);
    this.textStops = [];
    for (const s of stopStrings) {
      const id = tokenizer.tokenId(s);
      if (id === undefined) this.textStops.push(s);
      else this.stopIds.add(id);
    }
    this.eos = new Set(eos);
    // The logits of every position of a prompt run come back: keep them near 256 MB.
    const v = decoder.shape.vocab;
    this.prefillTokens = options.prefillTokens > 0 ? options.prefillTokens : Math.max(16, Math.min(4096, Math.floor(2 ** 28 / (4 * v))));
    this.context = Math.min(options.context ?? Infinity, contextOf(decoder.config) ?? Infinity);
    this.promptLimit = Math.min(this.context - 1, options.maxPromptTokens ?? Infinity);
  }

  static async open(options: Partial<OnnxPolicyOptions> & Pick<OnnxPolicyOptions, 'dir'>): Promise<OnnxPolicy> {
    const o: OnnxPolicyOptions = { ...onnxPolicyDefaults, ...options };
    validateSampling(o, 'policy onnx');
    for (const key of ['maxTokens', 'batchRows'] as const) {
      if (!(Number.isInteger(o[key]) && o[key] >= 1)) throw new UsageError(`policy onnx: ${key} must be an integer >= 1 (got ${o[key]})`);
    }
    for (const key of ['context', 'maxPromptTokens'] as const) {
      const v = o[key];
      if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new UsageError(`policy onnx: ${key} must be an integer >= 1 (got ${v})`);
    }
    const tokenizer = Tokenizer.load(join(o.dir, 'tokenizer.json'));
    const decoder = await Decoder.open(o.dir, o);
    if (!decoder.hasOutput('logits')) throw new Error(`policy onnx: ${decoder.path} has no "logits" output (is it a PPM?)`);
    const template = modelTemplate(o.template, decoder.config, 'policy onnx', o.dir);
    return new OnnxPolicy(decoder, tokenizer, o, eosIds(decoder.config), template);
  }

  stats(): OnnxPolicyStats {
    return { provider: this.decoder.provider, providerReason: this.decoder.providerReason, ...this.counters, prefix: { ...this.cache.stats } };
  }

  /** Steps for each request whose prompt fits (promptLimit), the reason for the others. */
  async generate(requests: StepRequest[]): Promise<(string[] | Refused)[]> {
    this.counters.calls++;
    const limit = this.promptLimit;
    const counted = await Promise.all(requests.map((r) => this.tokenizer.encodeWithin(promptSegments(this.template, r.problem, r.steps), limit)));
    const out: (string[] | Refused)[] = new Array(requests.length);
    const run: number[] = [];
    counted.forEach((c, i) => {
      if ('atLeast' in c) out[i] = { refused: `prompt too long: at least ${c.atLeast} tokens > ${limit}` };
      else if (c.tokens > limit) out[i] = { refused: `prompt too long: ${c.tokens} tokens > ${limit}` };
      else run.push(i);
    });
    this.counters.refusedPrompts += requests.length - run.length;
    if (run.length === 0) return out;
    const steps = await this.sample(
      run.map((i) => requests[i]!.n),
      run.map((i) => (counted[i] as { pieces: number[][] }).pieces.flat()),
      this.options,
    );
    run.forEach((i, k) => (out[i] = steps[k]!));
    return out;
  }

  /**
   * n continuations of each raw prompt text (as a completions server gets them: the text
   * encoded whole), each ending at a step's stop token or string, EOS or `maxTokens`; the
   * sampling settings given replace the policy's for this call. A prompt past promptLimit
   * is refused.
   */
  async complete(prompts: readonly string[], n: number, sampling: Partial<SamplingOptions & { maxTokens: number; seed: number }> = {}): Promise<(string[] | Refused)[]> {
    this.counters.calls++;
    const o = { ...this.options, ...sampling };
    validateSampling(o, 'policy onnx');
    const ids = await Promise.all(prompts.map((p) => this.tokenizer.encode(p)));
    const out: (string[] | Refused)[] = ids.map((x) => (x.length > this.promptLimit ? { refused: `prompt too long: ${x.length} tokens > ${this.promptLimit}` } : []));
    const run = [...ids.keys()].filter((i) => !('refused' in out[i]!));
    this.counters.refusedPrompts += prompts.length - run.length;
    const steps = await this.sample(run.map(() => n), run.map((i) => ids[i]!), o);
    run.forEach((i, k) => (out[i] = steps[k]!));
    return out;
  }

  /** n steps for each prompt's token ids (a request's pieces, each encoded on its own, see promptSegments), sampled by `o`. */
  private async sample(ns: readonly number[], prompts: number[][], o: OnnxPolicyOptions): Promise<string[][]> {
    // with reuse off the cache stays empty: every lookup is a miss that counts its tokens
    const found = prompts.map((ids) => this.cache.lookup(ids));
    const started = performance.now();
    const encoded = await this.decoder.encode(
      prompts.map((ids, i) => ({ kv: found[i]!.kv, ids: ids.slice(found[i]!.length) })),
      'logits',
      o.batchRows,
      this.prefillTokens,
    );
    this.counters.modelMs += performance.now() - started;
    encoded.forEach(({ kv }, i) => this.cache.store(prompts[i]!, kv));

    const samples: Sample[] = [];
    const firsts: number[] = [];
    ns.forEach((n, i) => {
      const key = o.seed === undefined ? 0 : hashKey(o.seed, ...prompts[i]!);
      for (let j = 0; j < n; j++) {
        const random = rng(o.seed === undefined ? (Math.random() * 2 ** 32) >>> 0 : hashKey(key, j));
        const room = Math.min(o.maxTokens, this.context - prompts[i]!.length);
        samples.push({ request: i, prompt: prompts[i]!, kv: encoded[i]!.kv, tokens: [], room, random });
        firsts.push(sampleToken(encoded[i]!.out, o, random));
      }
    });
    for (let start = 0; start < samples.length; start += o.batchRows) {
      await this.decode(samples.slice(start, start + o.batchRows), firsts.slice(start, start + o.batchRows), o);
    }
    const out: string[][] = ns.map(() => []);
    for (const s of samples) out[s.request]!.push(s.text!);
    this.counters.steps += samples.length;
    return out;
  }

  /**
   * Decodes samples together, each from its first token until a stop or its room. A batch
   * row carries every unfinished sample of one request whose tokens so far are the same
   * (with shareSamples): a confident policy samples the same step several times, and what n
   * samples repeat is computed once. Each sample draws its next token from the row's logits
   * with its own random stream; samples that draw different tokens fork the row (branch).
   * The row's logits are those each sample would get alone (the kernels compute each row on
   * its own), so every sample's text is the same as without sharing.
   */
  private async decode(samples: Sample[], firsts: number[], o: OnnxPolicyOptions): Promise<void> {
    const firstRows = new Map<string | number, Sample[]>();
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i]!;
      s.tokens.push(firsts[i]!);
      if (await this.finished(s)) continue;
      const key = o.shareSamples ? `${s.request} ${firsts[i]}` : i;
      const row = firstRows.get(key);
      if (row) row.push(s);
      else firstRows.set(key, [s]);
    }
    let rows = [...firstRows.values()]; // batch row -> the samples it carries
    if (rows.length === 0) return;
    let started = performance.now();
    // room in the cache for the steps to come (an in-place cache writes them there). Steps are
    // mostly far shorter than their room (maxTokens), and a new cache is zeroed: it starts with
    // room for INITIAL_ROOM tokens and doubles when it runs out (Decoder.step).
    const room = Math.min(INITIAL_ROOM, Math.max(...rows.flat().map((s) => s.room)));
    let { batch, out } = await this.decoder.forward(
      rows.map((row) => ({ kv: row[0]!.kv, ids: [row[0]!.tokens[0]!] })),
      'logits',
      room,
    );
    this.counters.modelMs += performance.now() - started;
    this.counters.decodeRows += rows.length;
    const V = this.decoder.shape.vocab;
    for (;;) {
      this.counters.decodeSteps++;
      const tokens = new Int32Array(rows.length);
      const active = new Uint8Array(rows.length);
      // rows to add: a copy of row `from`, fed `token`, carrying `samples`
      const forks: { from: number; token: number; samples: Sample[] }[] = [];
      let count = 0;
      for (let b = 0; b < rows.length; b++) {
        const next = new Map<number, Sample[]>(); // token -> the samples that drew it and go on
        const stopped = new Set<number>();
        for (const s of rows[b]!) {
          const t = sampleToken(out.subarray(b * V, (b + 1) * V), o, s.random);
          s.tokens.push(t);
          if (await this.finished(s)) {
            // its last token was never fed: the row's cache holds the prompt and the rest
            // (stored once for the samples of the row that stop on the same token)
            if (o.cacheSteps && !stopped.has(t)) this.cache.store([...s.prompt, ...s.tokens.slice(0, -1)], this.decoder.extract(batch, b));
            stopped.add(t);
            continue;
          }
          const row = next.get(t);
          if (row) row.push(s);
          else next.set(t, [s]);
        }
        rows[b] = [];
        for (const [t, carried] of next) {
          if (rows[b]!.length === 0) {
            rows[b] = carried;
            tokens[b] = t;
            active[b] = 1;
            count++;
          } else forks.push({ from: b, token: t, samples: carried });
        }
      }
      if (count === 0 && forks.length === 0) return;
      let fed = tokens;
      let live = active;
      if (count <= rows.length / 2 && rows.length >= 4) {
        const keep = [...active.keys()].filter((b) => active[b]);
        const at = new Map(keep.map((b, i) => [b, i]));
        for (const f of forks) f.from = at.get(f.from)!; // a row that forks carries samples: it is kept
        batch = this.decoder.compact(batch, keep);
        rows = keep.map((b) => rows[b]!);
        fed = Int32Array.from(keep, (b) => tokens[b]!);
        live = new Uint8Array(keep.length).fill(1);
      }
      if (forks.length > 0) {
        batch = this.decoder.branch(batch, forks.map((f) => f.from));
        rows.push(...forks.map((f) => f.samples));
        fed = Int32Array.from([...fed, ...forks.map((f) => f.token)]);
        live = Uint8Array.from([...live, ...forks.map(() => 1)]);
      }
      this.counters.decodeRows += rows.length;
      started = performance.now();
      out = await this.decoder.step(batch, fed, live, 'logits');
      this.counters.modelMs += performance.now() - started;
    }
  }

  /** Sets s.text once the sample is done: a stop token or string, EOS, or its room (maxTokens, the context). */
  private async finished(s: Sample): Promise<boolean> {
    const last = s.tokens[s.tokens.length - 1]!;
    let done = this.stopIds.has(last) || s.tokens.length >= s.room;
    if (!done && this.textStops.length > 0) {
      const tail = await this.tokenizer.decode(s.tokens.slice(-8));
      done = this.textStops.some((stop) => tail.includes(stop));
    }
    if (!done) return false;
    this.counters.generatedTokens += s.tokens.length;
    // EOS is not text: a step that ends there has no stop string and reads as unterminated
    const ids = this.eos.has(last) ? s.tokens.slice(0, -1) : s.tokens;
    s.text = cutAfterStop(await this.tokenizer.decode(ids));
    return true;
  }

  async close(): Promise<void> {
    this.cache.clear();
    await this.decoder.release();
  }
}

/** The text up to the first stop string, inclusive (a stop can end inside a token). */
function cutAfterStop(text: string): string {
  let end = text.length;
  for (const stop of stopStrings) {
    const at = text.indexOf(stop);
    if (at >= 0) end = Math.min(end, at + stop.length);
  }
  return text.slice(0, end);
}

/** config.json's eos_token_id: one id or a list. */
export function eosIds(config: Record<string, unknown>): number[] {
  const v = config['eos_token_id'];
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number');
  return [];
}
