// A PPM run in-process by onnxruntime-node, in the decoder's KV-cache I/O convention
// (src/backends/onnx/decoder.ts). Three kinds, named by config.json's rstar_ppm.output:
//   - `score`: the policy's backbone with a scalar head; the model's raw score r per
//     position; the PPM value is tanh(r / 5);
//   - `hidden`: the same, exported with `last_hidden_state` and ppm_head.json
//     ({"weight": [H], "bias": b}): the head runs natively, fused with writing the value
//     into the tree (TreeEngine.scoreFused);
//   - `reviewer`: a language model trained to write the question after a trajectory (SFT
//     with query and response swapped). A step's value is how well the trajectory so far
//     predicts the question: its tokens' mean probability p (geometric), as 2p - 1. This is
//     Coder-Reviewer reranking (Zhang et al., 2022): a program that skips or misreads a
//     sentence makes that sentence unlikely, which a scorer reading question-first misses.
// Incremental (default): a step is encoded on top of its parent's cached prefix, and its
// own prefix is kept for its children. Naive: the whole trajectory is encoded each time,
// as the authors do, for checking that both agree and for the benchmark.
// A request longer than the model's context is refused (score and hidden say why), and
// the search ends that problem's tree with the reason, as for the policy's refusals.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Decoder, decoderDefaults, type DecoderChoice } from './decoder.js';
import { contextOf, type OutputName } from './runner.js';
import { PrefixCache, type PrefixCacheStats } from './prefix-cache.js';
import { Tokenizer, type Counted } from './tokenizer.js';
import { modelTemplate, promptSegments } from '../../format/prompt.js';
import { ppmScore, rawScore, type PpmHead } from '../../engine/head.js';
import type { Ppm, Refused, ScoreRequest } from '../../engine/backend.js';

/** DecoderChoice: the device, the runtime, the native kernels' cache type, threads */
export interface OnnxPpmOptions extends DecoderChoice {
  dir: string;
  /** encode each step on its parent's cached prefix (true) or the whole trajectory (false) */
  incremental: boolean;
  cacheBytes: number;
  /** most sequences and padded tokens in one run */
  batchRows: number;
  prefillTokens: number;
  template?: string | undefined;
}

export const onnxPpmDefaults: Omit<OnnxPpmOptions, 'dir'> = {
  ...decoderDefaults,
  incremental: true,
  cacheBytes: 1 << 30,
  batchRows: 32,
  prefillTokens: 4096,
};

export interface OnnxPpmStats {
  provider: string;
  providerReason: string;
  output: OutputName;
  steps: number;
  prefix: PrefixCacheStats;
  modelMs: number;
}

export class OnnxPpm implements Ppm {
  readonly name = 'onnx';
  /** set for a last_hidden_state export: the engine applies it (fused) */
  readonly head: PpmHead | undefined;
  /** `logits` for a reviewer */
  readonly output: OutputName;
  private readonly cache: PrefixCache;
  private readonly counters = { steps: 0, modelMs: 0 };
  /** the positions a request may fill (config.json); Infinity when the model does not say */
  readonly context: number;

  private constructor(
    readonly decoder: Decoder,
    readonly tokenizer: Tokenizer,
    readonly options: OnnxPpmOptions,
    readonly template: string,
  ) {
    const dir = options.dir;
    const declared = (decoder.config['rstar_ppm'] as { output?: string } | undefined)?.output;
    if (declared !== undefined && declared !== 'hidden' && declared !== 'score' && declared !== 'reviewer') {
      throw new Error(`ppm onnx: ${dir}/config.json: rstar_ppm.output must be "hidden", "score" or "reviewer" (got ${JSON.stringify(declared)})`);
    }
    const reviewer = declared === 'reviewer';
    const useScore = declared === 'score' || (declared === undefined && decoder.hasOutput('score'));
    this.output = reviewer ? 'logits' : useScore ? 'score' : 'last_hidden_state';
    if (!decoder.hasOutput(this.output)) {
      throw new Error(`ppm onnx: ${decoder.path} has no "${this.output}" output (a PPM outputs "score", or "last_hidden_state" with ppm_head.json; a reviewer "logits")`);
    }
    this.head = reviewer || useScore ? undefined : readHead(join(dir, 'ppm_head.json'), decoder.shape.hidden);
    this.cache = new PrefixCache(options.incremental ? options.cacheBytes : 0);
    this.context = contextOf(decoder.config) ?? Infinity;
  }

  /** Each request's pieces tokenized, or why they do not fit the context. */
  private encodeFitting(texts: readonly string[][]): Promise<(number[][] | Refused)[]> {
    return Promise.all(
      texts.map(async (pieces) => {
        const c: Counted = await this.tokenizer.encodeWithin(pieces, this.context);
        if ('atLeast' in c) return { refused: `prompt too long: at least ${c.atLeast} tokens > ${this.context}` };
        return c.tokens > this.context ? { refused: `prompt too long: ${c.tokens} tokens > ${this.context}` } : c.pieces;
      }),
    );
  }

  static async open(options: Partial<OnnxPpmOptions> & Pick<OnnxPpmOptions, 'dir'>): Promise<OnnxPpm> {
    const o: OnnxPpmOptions = { ...onnxPpmDefaults, ...options };
    const tokenizer = Tokenizer.load(join(o.dir, 'tokenizer.json'));
    const decoder = await Decoder.open(o.dir, o);
    const template = modelTemplate(o.template, decoder.config, 'ppm onnx', o.dir);
    return new OnnxPpm(decoder, tokenizer, o, template);
  }

  stats(): OnnxPpmStats {
    return { provider: this.decoder.provider, providerReason: this.decoder.providerReason, output: this.output, ...this.counters, prefix: { ...this.cache.stats } };
  }

  /** Scores of the requests that fit the context, the reason for the others. */
  async score(requests: ScoreRequest[]): Promise<(number | Refused)[]> {
    if (this.output === 'logits') return this.review(requests);
    const { out, refused } = await this.run(requests);
    const H = this.decoder.shape.hidden;
    return requests.map((_, i) => refused[i] ?? (this.head ? ppmScore(out, i * H, this.head) : rawScore(out[i]!)));
  }

  /** The last hidden state of each request's last token, [requests, hidden], for the fused head; the requests past the context are refused, their rows zero. */
  async hidden(requests: ScoreRequest[]): Promise<{ hidden: Float32Array; refused: (Refused | undefined)[] }> {
    if (!this.head) throw new Error('ppm onnx: this export outputs scores, not hidden states');
    const { out, refused } = await this.run(requests);
    return { hidden: out, refused };
  }

  private async run(requests: ScoreRequest[]): Promise<{ out: Float32Array; refused: (Refused | undefined)[] }> {
    const o = this.options;
    const counted = await this.encodeFitting(requests.map((r) => promptSegments(this.template, r.problem, r.steps)));
    const todo = counted.flatMap((c, i) => ('refused' in c ? [] : [i]));
    const ids = todo.map((i) => (counted[i] as number[][]).flat());
    // naive mode keeps the cache empty: every lookup is a miss that counts its tokens
    const found = ids.map((x) => this.cache.lookup(x));
    const started = performance.now();
    const encoded = await this.decoder.encode(
      ids.map((x, i) => ({ kv: found[i]!.kv, ids: x.slice(found[i]!.length) })),
      this.output,
      o.batchRows,
      o.prefillTokens,
    );
    this.counters.modelMs += performance.now() - started;
    this.counters.steps += todo.length;
    // a scored node's prefix is what its children are scored on
    encoded.forEach(({ kv }, k) => this.cache.store(ids[k]!, kv));
    const width = this.decoder.width(this.output);
    const out = new Float32Array(requests.length * width);
    encoded.forEach((e, k) => out.set(e.out, todo[k]! * width));
    return { out, refused: counted.map((c) => ('refused' in c ? c : undefined)) };
  }

  /**
   * The reviewer's values. Its prompt is the trajectory inside the template (as in training,
   * where the trajectory is the query); that prefix, less its last token, is cached for the
   * children. The last token, the template's tail and the question then run teacher-forced,
   * and only the question's own tokens count.
   */
  private async review(all: ScoreRequest[]): Promise<(number | Refused)[]> {
    const o = this.options;
    const at = this.template.indexOf('{problem}');
    const [before, after] = [this.template.slice(0, at), this.template.slice(at + '{problem}'.length)];
    // each request's pieces: the prefix's, then the template's tail and the question
    const counted = await this.encodeFitting(all.map((r) => [before, ...r.steps, after, r.problem.problem]));
    const kept = counted.flatMap((c, i) => ('refused' in c ? [] : [i]));
    const requests = kept.map((i) => all[i]!);
    const pieces = kept.map((i) => counted[i] as number[][]);
    const prefixes = pieces.map((p) => p.slice(0, -2).flat());
    if (prefixes.some((x) => x.length === 0)) throw new Error('ppm onnx: reviewer: a request has no trajectory to review');
    const questions = pieces.map((p) => p.slice(-2));
    const started = performance.now();
    // the prefix without its last token: what the cache can hold and the children reuse
    const cacheable = prefixes.map((x) => x.slice(0, -1));
    const found = cacheable.map((x) => this.cache.lookup(x, x.length));
    const todo = cacheable.flatMap((x, i) => (x.length > found[i]!.length ? [i] : []));
    const encoded = await this.decoder.encode(
      todo.map((i) => ({ kv: found[i]!.kv, ids: cacheable[i]!.slice(found[i]!.length) })),
      this.output,
      o.batchRows,
      o.prefillTokens,
    );
    const kv = found.map((f) => f.kv);
    encoded.forEach((e, k) => {
      kv[todo[k]!] = e.kv;
      this.cache.store(cacheable[todo[k]!]!, e.kv);
    });
    const lps = await this.decoder.tokenLogprobs(
      requests.map((_, i) => ({ kv: kv[i], ids: [prefixes[i]!.at(-1)!, ...questions[i]![0]!, ...questions[i]![1]!] })),
      o.batchRows,
      o.prefillTokens,
    );
    this.counters.modelMs += performance.now() - started;
    this.counters.steps += requests.length;
    const out: (number | Refused)[] = counted.map((c) => ('refused' in c ? c : 0));
    lps.forEach((lp, i) => {
      const own = lp.subarray(questions[i]![0]!.length);
      if (own.length === 0) throw new Error(`ppm onnx: reviewer: problem ${requests[i]!.problem.id} has an empty question`);
      let sum = 0;
      for (const x of own) sum += x;
      out[kept[i]!] = Math.fround(2 * Math.exp(sum / own.length) - 1);
    });
    return out;
  }

  async close(): Promise<void> {
    this.cache.clear();
    await this.decoder.release();
  }
}

/** The results, or the first refusal as an error naming its problem. */
function readHead(path: string, hidden: number): PpmHead {
  let json: { weight?: unknown; bias?: unknown };
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as typeof json;
  } catch (e) {
    throw new Error(`ppm onnx: cannot read the head ${path}: ${(e as Error).message}`, { cause: e });
  }
  const { weight, bias } = json;
  if (!Array.isArray(weight) || weight.length !== hidden || !weight.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new Error(`ppm onnx: ${path}: "weight" must be ${hidden} finite numbers (hidden_size)`);
  }
  if (typeof bias !== 'number' || !Number.isFinite(bias)) throw new Error(`ppm onnx: ${path}: "bias" must be a finite number`);
  return { weight: Float32Array.from(weight as number[]), bias };
}
