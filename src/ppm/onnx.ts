// A PPM run in-process by onnxruntime-node: the policy's backbone with a scalar head, in
// the decoder's KV-cache I/O convention (src/model/decoder.ts). Two kinds of export:
//   - `score` output: the model's raw score r per position; the PPM value is tanh(r / 5);
//   - `last_hidden_state` output and ppm_head.json ({"weight": [H], "bias": b}): the head
//     runs natively, fused with writing the value into the tree (TreeEngine.scoreFused).
// Incremental (default): a step is encoded on top of its parent's cached prefix, and its
// own prefix is kept for its children. Naive: the whole trajectory is encoded each time,
// as the authors do, for checking that both agree and for the benchmark.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Decoder, type OutputName, type ProviderChoice } from '../model/decoder.js';
import { PrefixCache, type PrefixCacheStats } from '../model/prefix-cache.js';
import { Tokenizer } from '../model/tokenizer.js';
import { modelTemplate, promptSegments } from '../policy/prompt.js';
import { ppmScore, rawScore, type PpmHead } from './head.js';
import type { Ppm, ScoreRequest } from './ppm.js';

export interface OnnxPpmOptions {
  dir: string;
  device: ProviderChoice;
  threads: number;
  /** encode each step on its parent's cached prefix (true) or the whole trajectory (false) */
  incremental: boolean;
  cacheBytes: number;
  /** most sequences and padded tokens in one run */
  batchRows: number;
  prefillTokens: number;
  template?: string | undefined;
}

export const onnxPpmDefaults: Omit<OnnxPpmOptions, 'dir'> = {
  device: 'auto',
  threads: 0,
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
  readonly output: OutputName;
  private readonly cache: PrefixCache;
  private readonly counters = { steps: 0, modelMs: 0 };

  private constructor(
    readonly decoder: Decoder,
    readonly tokenizer: Tokenizer,
    readonly options: OnnxPpmOptions,
    readonly template: string,
  ) {
    const dir = options.dir;
    const declared = (decoder.config['rstar_ppm'] as { output?: string } | undefined)?.output;
    if (declared !== undefined && declared !== 'hidden' && declared !== 'score') throw new Error(`ppm onnx: ${dir}/config.json: rstar_ppm.output must be "hidden" or "score" (got ${JSON.stringify(declared)})`);
    const useScore = declared === 'score' || (declared === undefined && decoder.hasOutput('score'));
    this.output = useScore ? 'score' : 'last_hidden_state';
    if (!decoder.hasOutput(this.output)) throw new Error(`ppm onnx: ${decoder.path} has no "${this.output}" output (a PPM outputs "score", or "last_hidden_state" with ppm_head.json)`);
    this.head = useScore ? undefined : readHead(join(dir, 'ppm_head.json'), decoder.shape.hidden);
    this.cache = new PrefixCache(options.incremental ? options.cacheBytes : 0);
  }

  static async open(options: Partial<OnnxPpmOptions> & Pick<OnnxPpmOptions, 'dir'>): Promise<OnnxPpm> {
    const o: OnnxPpmOptions = { ...onnxPpmDefaults, ...options };
    const tokenizer = Tokenizer.load(join(o.dir, 'tokenizer.json'));
    const decoder = await Decoder.open(o.dir, o.device, o.threads);
    const template = modelTemplate(o.template, decoder.config, 'ppm onnx', o.dir);
    return new OnnxPpm(decoder, tokenizer, o, template);
  }

  stats(): OnnxPpmStats {
    return { provider: this.decoder.provider, providerReason: this.decoder.providerReason, output: this.output, ...this.counters, prefix: { ...this.cache.stats } };
  }

  async score(requests: ScoreRequest[]): Promise<number[]> {
    const out = await this.run(requests);
    if (this.head) {
      const H = this.decoder.shape.hidden;
      return requests.map((_, i) => ppmScore(out, i * H, this.head!));
    }
    return Array.from(out, rawScore);
  }

  /** The last hidden state of each request's last token, [requests, hidden], for the fused head. */
  async hidden(requests: ScoreRequest[]): Promise<Float32Array> {
    if (!this.head) throw new Error('ppm onnx: this export outputs scores, not hidden states');
    return this.run(requests);
  }

  private async run(requests: ScoreRequest[]): Promise<Float32Array> {
    const o = this.options;
    const texts = requests.map((r) => promptSegments(this.template, r.problem, r.steps));
    const ids = await Promise.all(texts.map(async (pieces) => (await this.tokenizer.encodeBatch(pieces)).flat()));
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
    this.counters.steps += requests.length;
    // a scored node's prefix is what its children are scored on
    encoded.forEach(({ kv }, i) => this.cache.store(ids[i]!, kv));
    const width = this.decoder.width(this.output);
    const out = new Float32Array(requests.length * width);
    encoded.forEach((e, i) => out.set(e.out, i * width));
    return out;
  }

  async close(): Promise<void> {
    this.cache.clear();
    await this.decoder.release();
  }
}

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
