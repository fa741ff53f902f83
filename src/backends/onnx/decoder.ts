// A decoder-only ONNX model with a KV cache, run in-process by onnxruntime-node, in the
// Optimum / Transformers.js I/O convention:
//   input_ids [B,T], attention_mask [B,P+T], position_ids [B,T],
//   past_key_values.{i}.key|value [B,kvHeads,P,headDim]
//   -> logits [B,T,V] | last_hidden_state [B,T,H] | score [B,T], and the cache, one of:
//      present.{i}.key|value [B,kvHeads,P+T,headDim]   (kind "concat": Optimum's exports)
//      new_key_values.{i}.key|value [B,kvHeads,T,headDim] (kind "in-place": the trainer's)
//
// Rows of a batch are ragged: each row's past is padded on the right up to the longest and
// its new tokens start after that, with attention_mask 0 on the gap and position_ids
// counting only the row's real tokens. So any mix of cached prefixes and new tokens runs as
// one batch, and a row's cache is recovered by keeping the positions its mask marks.
//
// Why two kinds: ONNX Runtime's Node binding hands every output back as a fresh copy, so a
// "concat" decode step copies the whole cache twice (the model concatenates past and new,
// the binding copies present out), which at batch 128 is most of the step. An "in-place"
// model returns only the new positions; the batch keeps a buffer with room for the steps
// to come (past = the buffer, its unused positions masked) and writes them into it, so a
// step copies nothing but the new positions.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { InputError } from '../../errors.js';

// A failed CUDA provider attempt logs an error line of its own (through ORT's process-wide
// logger, read once when its environment starts); its message is reported in the provider
// reason instead. Errors that matter reach the caller as exceptions.
ort.env.logLevel = 'fatal';

/** Where a model runs: auto tries the CUDA provider and falls back to the CPU one. */
export type ProviderChoice = 'auto' | 'cpu' | 'cuda';
export type Provider = 'cpu' | 'cuda';

/** The model's output the caller wants at each row's last token. */
export type OutputName = 'logits' | 'last_hidden_state' | 'score';

export interface ModelShape {
  layers: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  hidden: number;
}

/** One sequence's KV cache: per layer key then value, each [kvHeads, length, headDim]. */
export interface SeqKv {
  length: number;
  data: Float32Array[];
}

export function kvBytes(kv: SeqKv): number {
  let bytes = 0;
  for (const a of kv.data) bytes += a.byteLength;
  return bytes;
}

/** One row of a forward call: an optional cached prefix and the tokens to encode after it. */
export interface Row {
  kv?: SeqKv | undefined;
  ids: readonly number[];
}

/** How a model returns its cache (see the header). */
export type KvKind = 'concat' | 'in-place';

/**
 * A batch's KV cache after a forward call, ready for the next decode step. Row b's cache
 * is the positions mask[b] marks, in order; positions from `length` to `capacity` are room
 * for the steps to come (in-place kind; capacity = length for the concat kind).
 */
export interface KvBatch {
  rows: number;
  /** KV positions in use (the padded length) */
  length: number;
  /** KV positions allocated */
  capacity: number;
  /** [rows, capacity]: 1 where a row has a real token */
  mask: Uint8Array;
  /** per layer key then value: [rows, kvHeads, capacity, headDim] */
  kv: Float32Array[];
  /** each row's next position id (its real token count) */
  position: Int32Array;
}

export interface SessionChoice {
  session: ort.InferenceSession;
  provider: Provider;
  /** why this provider: asked for, or what made the CUDA provider fail to load */
  reason: string;
}

/** Opens model.onnx on CUDA when asked (or auto) and the provider loads, else on the CPU. */
export async function openSession(path: string, choice: ProviderChoice, threads = 0): Promise<SessionChoice> {
  const options: ort.InferenceSession.SessionOptions = {
    logSeverityLevel: 3,
    graphOptimizationLevel: 'all',
    ...(threads > 0 ? { intraOpNumThreads: threads } : {}),
  };
  let why = '';
  if (choice !== 'cpu') {
    try {
      // onnxruntime-node throws (it does not fall back) when its CUDA provider is missing.
      const session = await ort.InferenceSession.create(path, { ...options, logSeverityLevel: 4, executionProviders: ['cuda'] });
      return { session, provider: 'cuda', reason: choice === 'cuda' ? 'asked for' : 'auto: the CUDA provider loaded' };
    } catch (e) {
      why = firstLine((e as Error).message);
    }
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, { ...options, executionProviders: ['cpu'] });
  } catch (e) {
    throw new Error(`model: cannot load ${path}: ${firstLine((e as Error).message)}`, { cause: e });
  }
  const reason = choice === 'cpu' ? 'asked for' : `${choice === 'cuda' ? 'cuda asked for' : 'auto'}: the CUDA provider did not load (${why}); using the CPU provider`;
  return { session, provider: 'cpu', reason };
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0]!.slice(0, 300);
}

/** config.json of a model dir (Hugging Face names). */
export function readConfig(dir: string): Record<string, unknown> {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(`model: ${path} is missing (a model dir holds model.onnx, config.json and tokenizer.json)`, { cause: e });
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`model: ${path} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

function configInt(config: Record<string, unknown>, key: string, path: string): number {
  const v = config[key];
  if (!(typeof v === 'number' && Number.isInteger(v) && v > 0)) throw new Error(`model: ${path}: "${key}" must be a positive integer (got ${JSON.stringify(v)})`);
  return v;
}

/** A known dimension from the model's own input/output shapes, else undefined. */
function dim(meta: readonly ort.InferenceSession.ValueMetadata[], name: string, axis: number): number | undefined {
  const m = meta.find((x) => x.name === name);
  if (!m || !m.isTensor) return undefined;
  const d = m.shape[axis];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

/**
 * The positions the model was trained on (config.json: max_position_embeddings, or another
 * family's name for it); undefined when the config does not say. Past them a model with
 * learned positions fails and one with rotary positions degrades.
 */
export function contextOf(config: Record<string, unknown>): number | undefined {
  for (const key of ['max_position_embeddings', 'n_positions', 'max_sequence_length', 'seq_length', 'n_ctx']) {
    const v = config[key];
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  }
  return undefined;
}

export class Decoder {
  readonly shape: ModelShape;
  readonly kvKind: KvKind;
  private readonly pastNames: string[];
  /** the cache outputs: present.* (concat) or new_key_values.* (in-place) */
  private readonly cacheNames: string[];

  constructor(
    readonly session: ort.InferenceSession,
    readonly provider: Provider,
    readonly providerReason: string,
    readonly config: Record<string, unknown>,
    readonly path: string,
  ) {
    const inputs = session.inputNames;
    for (const need of ['input_ids', 'attention_mask', 'position_ids', 'past_key_values.0.key']) {
      if (!inputs.includes(need)) throw new Error(`model: ${path} has no input "${need}" (inputs: ${inputs.join(', ')}); export it with a KV cache (Optimum's decoder-with-past convention)`);
    }
    let layers = 0;
    while (inputs.includes(`past_key_values.${layers}.key`)) layers++;
    this.kvKind = session.outputNames.includes('new_key_values.0.key') ? 'in-place' : 'concat';
    const prefix = this.kvKind === 'in-place' ? 'new_key_values' : 'present';
    this.pastNames = [];
    this.cacheNames = [];
    for (let i = 0; i < layers; i++) {
      for (const kind of ['key', 'value']) {
        this.pastNames.push(`past_key_values.${i}.${kind}`);
        this.cacheNames.push(`${prefix}.${i}.${kind}`);
      }
    }
    for (const name of this.cacheNames) {
      if (!session.outputNames.includes(name)) throw new Error(`model: ${path} has no output "${name}" for its input past_key_values (outputs: present.* or new_key_values.*)`);
    }
    const cfg = `${path} config.json`;
    const meta = session.inputMetadata;
    const heads = typeof config['num_attention_heads'] === 'number' ? (config['num_attention_heads'] as number) : undefined;
    const kvHeads = dim(meta, 'past_key_values.0.key', 1) ?? (typeof config['num_key_value_heads'] === 'number' ? configInt(config, 'num_key_value_heads', cfg) : configInt(config, 'num_attention_heads', cfg));
    const hidden = configInt(config, 'hidden_size', cfg);
    const headDim = dim(meta, 'past_key_values.0.key', 3) ?? (typeof config['head_dim'] === 'number' ? configInt(config, 'head_dim', cfg) : hidden / (heads ?? NaN));
    if (!(Number.isInteger(headDim) && headDim > 0)) throw new Error(`model: ${cfg}: cannot tell head_dim (give "head_dim" or "num_attention_heads")`);
    this.shape = { layers, kvHeads, headDim, hidden, vocab: configInt(config, 'vocab_size', cfg) };
  }

  static async open(dir: string, choice: ProviderChoice, threads = 0): Promise<Decoder> {
    const config = readConfig(dir);
    const path = join(dir, 'model.onnx');
    const { session, provider, reason } = await openSession(path, choice, threads);
    return new Decoder(session, provider, reason, config, path);
  }

  hasOutput(name: OutputName): boolean {
    return this.session.outputNames.includes(name);
  }

  /** Floats of one row of `output`. */
  width(output: OutputName): number {
    return output === 'logits' ? this.shape.vocab : output === 'last_hidden_state' ? this.shape.hidden : 1;
  }

  /** Bytes of KV per token. */
  kvBytesPerToken(): number {
    return 2 * this.shape.layers * this.shape.kvHeads * this.shape.headDim * 4;
  }

  /**
   * Encodes each row's new tokens after its cached prefix. Returns the batch's KV, with room
   * for `room` more positions (in-place kind; a concat batch grows at each step), and
   * `output` at each row's last new token ([rows, width]).
   */
  async forward(rows: readonly Row[], output: OutputName, room = 0): Promise<{ batch: KvBatch; out: Float32Array }> {
    const { feeds, T, batch } = this.feeds(rows, room);
    const result = await this.run(feeds, output);
    this.take(batch, result, T);
    const width = this.width(output);
    const all = result[output]!.data as Float32Array;
    const out = new Float32Array(rows.length * width);
    rows.forEach((r, b) => {
      const at = (b * T + r.ids.length - 1) * width;
      out.set(all.subarray(at, at + width), b * width);
    });
    return { batch, out };
  }

  /**
   * Teacher-forced log-probs: for each row, log p(ids[t] | its cached prefix, ids[<t]) for
   * t = 1 .. n-1 (the first new token is context only: the logits that predict it belong to
   * the prefix's run). A run holds at most `maxRows` rows and `maxTokens` padded tokens (their
   * logits must fit in memory), or one longer row alone.
   */
  async tokenLogprobs(rows: readonly Row[], maxRows: number, maxTokens: number): Promise<Float32Array[]> {
    const V = this.shape.vocab;
    const results: Float32Array[] = [];
    for (let start = 0; start < rows.length; ) {
      let end = start + 1;
      let longest = rows[start]!.ids.length;
      while (end < rows.length && end - start < maxRows && (end - start + 1) * Math.max(longest, rows[end]!.ids.length) <= maxTokens) {
        longest = Math.max(longest, rows[end++]!.ids.length);
      }
      const group = rows.slice(start, end);
      start = end;
      const { feeds, T } = this.feeds(group, 0);
      const logits = (await this.run(feeds, 'logits'))['logits']!.data as Float32Array;
      for (const [b, r] of group.entries()) {
        const lp = new Float32Array(r.ids.length - 1);
        for (let t = 1; t < r.ids.length; t++) lp[t - 1] = logSoftmaxAt(logits, (b * T + t - 1) * V, V, r.ids[t]!);
        results.push(lp);
      }
    }
    return results;
  }

  /**
   * The feeds of one run over ragged rows (see the header), and the batch they imply: each
   * row's past copied into a cache of P positions (concat kind), or of P + T + room (in-place
   * kind: the run's new positions and the steps after it are written there), its mask marking
   * the row's past and new tokens.
   */
  private feeds(rows: readonly Row[], room: number): { feeds: Record<string, ort.Tensor>; T: number; batch: KvBatch } {
    const { kvHeads, headDim } = this.shape;
    const B = rows.length;
    let P = 0;
    let T = 1;
    for (const r of rows) {
      if (r.ids.length === 0) throw new Error('model: a row has no token to encode');
      P = Math.max(P, r.kv?.length ?? 0);
      T = Math.max(T, r.ids.length);
    }
    const length = P + T;
    // the past fed to this run: the batch's cache itself when it needs room for decode steps
    // (in-place), else just the pasts: the batch takes the run's present (concat), or the
    // pasts widened with the new positions (in-place), rather than attending over masked room
    const past = this.kvKind === 'in-place' && room > 0 ? length + room : P;
    const capacity = Math.max(past, length);
    const feeds: Record<string, ort.Tensor> = {};
    const ids = new BigInt64Array(B * T);
    const positions = new BigInt64Array(B * T);
    const mask = new Uint8Array(B * capacity);
    const position = new Int32Array(B);
    rows.forEach((r, b) => {
      const L = r.kv?.length ?? 0;
      for (let t = 0; t < T; t++) {
        ids[b * T + t] = BigInt(t < r.ids.length ? r.ids[t]! : 0);
        positions[b * T + t] = BigInt(L + Math.min(t, r.ids.length - 1));
      }
      mask.fill(1, b * capacity, b * capacity + L);
      mask.fill(1, b * capacity + P, b * capacity + P + r.ids.length);
      position[b] = L + r.ids.length;
    });
    const kv = this.pastNames.map((name) => {
      const data = new Float32Array(B * kvHeads * past * headDim);
      feeds[name] = new ort.Tensor('float32', data, [B, kvHeads, past, headDim]);
      return data;
    });
    rows.forEach((r, b) => {
      if (r.kv && r.kv.length > 0) copyRows(r.kv.data, r.kv.length, kv, past, b, kvHeads, headDim);
    });
    feeds['input_ids'] = new ort.Tensor('int64', ids, [B, T]);
    feeds['position_ids'] = new ort.Tensor('int64', positions, [B, T]);
    // [B, past + T]: the past's positions (then, in place, the unused room), then the new tokens
    const feedMask = new BigInt64Array(B * (past + T));
    const low = new Int32Array(feedMask.buffer, lowWord); // as in step()
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < P; j++) low[2 * (b * (past + T) + j)] = mask[b * capacity + j]!;
      for (let t = 0; t < T; t++) low[2 * (b * (past + T) + past + t)] = mask[b * capacity + P + t]!;
    }
    feeds['attention_mask'] = new ort.Tensor('int64', feedMask, [B, past + T]);
    return { feeds, T, batch: { rows: B, length, capacity, mask, kv, position } };
  }

  /** Puts a run's cache outputs into the batch: its new present (concat) or its T new positions at batch.length - T (in-place). */
  private take(batch: KvBatch, result: ort.InferenceSession.OnnxValueMapType, T: number): void {
    if (this.kvKind === 'concat') {
      batch.kv = this.cacheNames.map((n) => result[n]!.data as Float32Array);
      return;
    }
    const { kvHeads, headDim } = this.shape;
    const at = batch.length - T;
    const floats = batch.rows * kvHeads * batch.capacity * headDim;
    if (batch.kv[0]!.length < floats) {
      // the run's past had no room for its new positions: the same rows with that room
      const past = batch.kv[0]!.length / (batch.rows * kvHeads * headDim);
      batch.kv = batch.kv.map((src) => widen(src, batch.rows * kvHeads, past, batch.capacity, headDim));
    }
    this.cacheNames.forEach((n, k) => {
      const src = result[n]!.data as Float32Array;
      const dst = batch.kv[k]!;
      for (let bh = 0; bh < batch.rows * kvHeads; bh++) {
        dst.set(src.subarray(bh * T * headDim, (bh + 1) * T * headDim), (bh * batch.capacity + at) * headDim);
      }
    });
  }

  /**
   * Encodes many rows in as few runs as the budgets allow: at most `maxRows` rows and
   * `maxTokens` padded tokens per run (a model's logits for every position of a run must fit
   * in memory); a row longer than `maxTokens` is encoded in pieces, each on the cache of the
   * ones before. Returns each row's own cache (prefix + new tokens) and its output row.
   */
  async encode(rows: readonly Row[], output: OutputName, maxRows: number, maxTokens: number): Promise<{ kv: SeqKv; out: Float32Array }[]> {
    const width = this.width(output);
    const results: { kv: SeqKv; out: Float32Array }[] = new Array(rows.length);
    let pending = rows.map((r, i) => ({ i, kv: r.kv, ids: r.ids }));
    while (pending.length > 0) {
      const next: typeof pending = [];
      // longest first, so rows of similar length share a run and padding stays small
      pending.sort((a, b) => b.ids.length - a.ids.length);
      for (let start = 0; start < pending.length; ) {
        const T = Math.min(pending[start]!.ids.length, maxTokens);
        const count = Math.max(1, Math.min(maxRows, Math.floor(maxTokens / T), pending.length - start));
        const group = pending.slice(start, start + count);
        start += count;
        const { batch, out } = await this.forward(
          group.map((g) => ({ kv: g.kv, ids: g.ids.slice(0, T) })),
          output,
        );
        group.forEach((g, b) => {
          const kv = this.extract(batch, b);
          if (g.ids.length > T) next.push({ i: g.i, kv, ids: g.ids.slice(T) });
          else results[g.i] = { kv, out: out.slice(b * width, (b + 1) * width) };
        });
      }
      pending = next;
    }
    return results;
  }

  /**
   * One decode step: row b appends tokens[b] when active[b] (else a masked pad that no row
   * ever attends to). Returns `output` per row ([rows, width]); the batch grows by one.
   */
  async step(batch: KvBatch, tokens: Int32Array, active: Uint8Array, output: OutputName): Promise<Float32Array> {
    const { kvHeads, headDim } = this.shape;
    const B = batch.rows;
    if (this.kvKind === 'in-place' && batch.length === batch.capacity) this.grow(batch, Math.max(16, batch.capacity));
    // the concat kind's cache grows by the step's position; the in-place kind's has room
    const capacity = this.kvKind === 'concat' ? batch.length + 1 : batch.capacity;
    const ids = new BigInt64Array(B);
    const positions = new BigInt64Array(B);
    const feedMask = new BigInt64Array(B * (batch.capacity + 1));
    // written through its low 32-bit words: no BigInt per element
    const low = new Int32Array(feedMask.buffer, lowWord);
    const mask = this.kvKind === 'concat' ? new Uint8Array(B * capacity) : batch.mask;
    for (let b = 0; b < B; b++) {
      const row = batch.mask.subarray(b * batch.capacity, b * batch.capacity + batch.length);
      const at = 2 * b * (batch.capacity + 1);
      for (let j = 0; j < row.length; j++) low[at + 2 * j] = row[j]!;
      low[at + 2 * batch.capacity] = active[b]!;
      if (this.kvKind === 'concat') mask.set(row, b * capacity);
      mask[b * capacity + batch.length] = active[b]!;
      ids[b] = BigInt(active[b] ? tokens[b]! : 0);
      positions[b] = BigInt(batch.position[b]!);
      if (active[b]) batch.position[b]!++;
    }
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', ids, [B, 1]),
      position_ids: new ort.Tensor('int64', positions, [B, 1]),
      attention_mask: new ort.Tensor('int64', feedMask, [B, batch.capacity + 1]),
    };
    this.pastNames.forEach((name, k) => (feeds[name] = new ort.Tensor('float32', batch.kv[k]!, [B, kvHeads, batch.capacity, headDim])));
    const result = await this.run(feeds, output);
    batch.length++;
    batch.capacity = capacity;
    batch.mask = mask;
    this.take(batch, result, 1);
    return result[output]!.data as Float32Array;
  }

  /** An in-place batch with `more` positions of room (it ran out: a caller asked for less room than it used). */
  private grow(batch: KvBatch, more: number): void {
    const { kvHeads, headDim } = this.shape;
    const capacity = batch.capacity + more;
    batch.kv = batch.kv.map((src) => widen(src, batch.rows * kvHeads, batch.capacity, capacity, headDim));
    batch.mask = widen(batch.mask, batch.rows, batch.capacity, capacity, 1);
    batch.capacity = capacity;
  }

  /** Row b's own cache: the positions its mask marks, in order. */
  extract(batch: KvBatch, b: number): SeqKv {
    const { kvHeads, headDim } = this.shape;
    const runs: [number, number][] = [];
    const m = batch.mask.subarray(b * batch.capacity, b * batch.capacity + batch.length);
    let n = 0;
    for (let j = 0; j < m.length; ) {
      if (!m[j]) {
        j++;
        continue;
      }
      const s = j;
      while (j < m.length && m[j]) j++;
      runs.push([s, j]);
      n += j - s;
    }
    const data = batch.kv.map((src) => {
      const dst = new Float32Array(kvHeads * n * headDim);
      for (let h = 0; h < kvHeads; h++) {
        const base = (b * kvHeads + h) * batch.capacity;
        let at = h * n;
        for (const [s, e] of runs) {
          dst.set(src.subarray((base + s) * headDim, (base + e) * headDim), at * headDim);
          at += e - s;
        }
      }
      return dst;
    });
    return { length: n, data };
  }

  /**
   * The batch with only the rows `keep`, ascending (finished rows dropped, so steps stop
   * paying for them). The rows move down in place: the batch passed in is spent.
   */
  compact(batch: KvBatch, keep: readonly number[]): KvBatch {
    const { kvHeads, headDim } = this.shape;
    const rowFloats = kvHeads * batch.capacity * headDim;
    const kv = batch.kv.map((data) => {
      keep.forEach((b, i) => {
        if (b !== i) data.copyWithin(i * rowFloats, b * rowFloats, (b + 1) * rowFloats);
      });
      return data.subarray(0, keep.length * rowFloats);
    });
    const mask = batch.mask;
    keep.forEach((b, i) => {
      if (b !== i) mask.copyWithin(i * batch.capacity, b * batch.capacity, (b + 1) * batch.capacity);
    });
    return {
      rows: keep.length,
      length: batch.length,
      capacity: batch.capacity,
      mask: mask.subarray(0, keep.length * batch.capacity),
      kv,
      position: Int32Array.from(keep, (b) => batch.position[b]!),
    };
  }

  private async run(feeds: Record<string, ort.Tensor>, output: OutputName): Promise<ort.InferenceSession.OnnxValueMapType> {
    try {
      return await this.session.run(feeds, [output, ...this.cacheNames]);
    } catch (e) {
      throw new Error(`model: ${this.path}: ${firstLine((e as Error).message)}`, { cause: e });
    }
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** log softmax(logits[at .. at+V))[token], in double. */
function logSoftmaxAt(logits: Float32Array, at: number, V: number, token: number): number {
  let max = -Infinity;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[at + v]!);
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[at + v]! - max);
  return logits[at + token]! - max - Math.log(sum);
}

/** `groups` runs of `from` positions (`width` elements each), each moved to the start of a run of `to` (zeros after). */
function widen<T extends Float32Array | Uint8Array>(src: T, groups: number, from: number, to: number, width: number): T {
  const dst = new (src.constructor as new (n: number) => T)(groups * to * width);
  for (let g = 0; g < groups; g++) dst.set(src.subarray(g * from * width, (g + 1) * from * width), g * to * width);
  return dst;
}

/** Bytes from an int64's start to its low 32-bit word. */
const lowWord = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1 ? 0 : 4;

/** A sequence's cache ([kvHeads, length, headDim] per layer and kind) into row b of a batch's ([rows, kvHeads, capacity, headDim]). */
function copyRows(src: readonly Float32Array[], length: number, dst: readonly Float32Array[], capacity: number, b: number, kvHeads: number, headDim: number): void {
  src.forEach((from, k) => {
    for (let h = 0; h < kvHeads; h++) {
      dst[k]!.set(from.subarray(h * length * headDim, (h + 1) * length * headDim), (b * kvHeads + h) * capacity * headDim);
    }
  });
}
