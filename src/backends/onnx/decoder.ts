// A decoder-only model with a KV cache, run in-process by a ModelRunner (runner.ts):
// ONNX Runtime over model.onnx (ort.ts), or the engine's own CPU kernels (native.ts). This
// file builds each run over a batch and keeps the batch's cache.
//
// Rows of a batch are ragged: each row's past is padded on the right up to the longest and
// its new tokens start after that, with attention_mask 0 on the gap and position_ids
// counting only the row's real tokens. So any mix of cached prefixes and new tokens runs as
// one batch, and a row's cache is recovered by keeping the positions its mask marks.
//
// Why two cache kinds: ONNX Runtime's Node binding hands every output back as a fresh copy,
// so a "concat" decode step copies the whole cache twice (the model concatenates past and
// new, the binding copies present out), which at batch 128 is most of the step. An
// "in-place" model returns only the new positions; the batch keeps a buffer with room for
// the steps to come (past = the buffer, its unused positions masked) and writes them into
// it, so a step copies nothing but the new positions.
import { join } from 'node:path';
import { InputError } from '../../errors.js';
import { NativeRunner, nativeUnusable } from './native.js';
import { openCudaSession, openSession, OrtRunner } from './ort.js';
import { kvArray, readConfig, type KvData, type KvKind, type KvType, type ModelCall, type ModelRunner, type ModelShape, type OutputName, type Provider, type ProviderChoice, type RuntimeChoice } from './runner.js';

/** One sequence's KV cache: per layer key then value, each [kvHeads, length, headDim]. */
export interface SeqKv {
  length: number;
  data: KvData[];
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
  kv: KvData[];
  /** each row's next position id (its real token count) */
  position: Int32Array;
  /** rows the kv buffers hold: branch() appends rows up to this many without reallocating (it leaves room when it grows them) */
  rowCapacity: number;
}

/** How a model dir is opened: where (device), by whom (runtime), and the native kernels' cache type and threads. */
export interface DecoderChoice {
  device: ProviderChoice;
  runtime: RuntimeChoice;
  /** the native kernels' cache (ONNX Runtime's is float32) */
  kvType: KvType;
  /** ONNX Runtime's intra-op threads, or the native kernels'; 0: all cores */
  threads: number;
}

export const decoderDefaults: DecoderChoice = { device: 'auto', runtime: 'auto', kvType: 'bfloat16', threads: 0 };

/**
 * The runner for a model dir: the native kernels when asked, or (auto) when they apply and no
 * GPU is asked for or loads; else ONNX Runtime.
 */
async function openRunner(dir: string, config: Record<string, unknown>, c: DecoderChoice): Promise<ModelRunner> {
  const path = join(dir, 'model.onnx');
  const unusable = c.runtime === 'onnxruntime' ? 'onnxruntime asked for' : nativeUnusable(dir, config);
  if (c.runtime === 'native' && unusable) throw new InputError(`model: ${dir}: the native kernels cannot run it: ${unusable}`);
  if (!unusable && c.device !== 'cuda') {
    if (c.runtime === 'native' || c.device === 'cpu') return new NativeRunner(dir, config, c.kvType, c.threads, `${c.runtime === 'native' ? 'native asked for' : 'auto: the engine\'s CPU kernels apply'}, ${c.kvType} cache`);
    // auto on auto: a GPU first, as ONNX Runtime would take it
    const cuda = await openCudaSession(path, c.threads);
    if (typeof cuda !== 'string') return new OrtRunner(cuda, 'cuda', 'auto: the CUDA provider loaded', config, path);
    return new NativeRunner(dir, config, c.kvType, c.threads, `auto: the CUDA provider did not load (${cuda}); the engine's CPU kernels, ${c.kvType} cache`);
  }
  const { session, provider, reason } = await openSession(path, c.device, c.threads);
  // cuda asked for: the native kernels were not in question
  const note = c.runtime === 'auto' && c.device !== 'cuda' ? `; not the native kernels: ${unusable}` : '';
  return new OrtRunner(session, provider, reason + note, config, path);
}

export class Decoder {
  readonly shape: ModelShape;
  readonly kvKind: KvKind;
  readonly kvType: KvType;

  constructor(
    readonly runner: ModelRunner,
    readonly config: Record<string, unknown>,
    /** the model dir */
    readonly path: string,
  ) {
    this.shape = runner.shape;
    this.kvKind = runner.kvKind;
    this.kvType = runner.kvType;
  }

  static async open(dir: string, choice: Partial<DecoderChoice> = {}): Promise<Decoder> {
    const config = readConfig(dir);
    return new Decoder(await openRunner(dir, config, { ...decoderDefaults, ...choice }), config, dir);
  }

  get provider(): Provider {
    return this.runner.provider;
  }

  get providerReason(): string {
    return this.runner.providerReason;
  }

  hasOutput(name: OutputName): boolean {
    return this.runner.hasOutput(name);
  }

  /** Floats of one row of `output`. */
  width(output: OutputName): number {
    return output === 'logits' ? this.shape.vocab : output === 'last_hidden_state' ? this.shape.hidden : 1;
  }

  /** Bytes of KV per token. */
  kvBytesPerToken(): number {
    return 2 * this.shape.layers * this.shape.kvHeads * this.shape.headDim * (this.kvType === 'float32' ? 4 : 2);
  }

  /**
   * Encodes each row's new tokens after its cached prefix. Returns the batch's KV, with room
   * for `room` more positions (in-place kind; a concat batch grows at each step), and
   * `output` at each row's last new token ([rows, width]).
   */
  async forward(rows: readonly Row[], output: OutputName, room = 0): Promise<{ batch: KvBatch; out: Float32Array }> {
    const { call, batch } = this.call(rows, room);
    const T = call.tokens;
    const { out: all, cache } = await this.runner.run(call, output);
    this.take(batch, cache, T);
    const width = this.width(output);
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
      const { call } = this.call(group, 0);
      const T = call.tokens;
      const logits = (await this.runner.run(call, 'logits')).out;
      for (const [b, r] of group.entries()) {
        const lp = new Float32Array(r.ids.length - 1);
        for (let t = 1; t < r.ids.length; t++) lp[t - 1] = logSoftmaxAt(logits, (b * T + t - 1) * V, V, r.ids[t]!);
        results.push(lp);
      }
    }
    return results;
  }

  /**
   * One run over ragged rows (see the header), and the batch it implies: each row's past
   * copied into a cache of P positions (concat kind), or of P + T + room (in-place kind: the
   * run's new positions and the steps after it are written there), its mask marking the
   * row's past and new tokens.
   */
  private call(rows: readonly Row[], room: number): { call: ModelCall; batch: KvBatch } {
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
    const ids = new Int32Array(B * T);
    const positions = new Int32Array(B * T);
    const mask = new Uint8Array(B * capacity);
    const position = new Int32Array(B);
    rows.forEach((r, b) => {
      const L = r.kv?.length ?? 0;
      for (let t = 0; t < T; t++) {
        ids[b * T + t] = t < r.ids.length ? r.ids[t]! : 0;
        positions[b * T + t] = L + Math.min(t, r.ids.length - 1);
      }
      mask.fill(1, b * capacity, b * capacity + L);
      mask.fill(1, b * capacity + P, b * capacity + P + r.ids.length);
      position[b] = L + r.ids.length;
    });
    const kv = Array.from({ length: 2 * this.shape.layers }, () => kvArray(this.kvType, B * kvHeads * past * headDim));
    rows.forEach((r, b) => {
      if (r.kv && r.kv.length > 0) copyRows(r.kv.data, r.kv.length, kv, past, b, kvHeads, headDim);
    });
    // [B, past + T]: the past's positions (then, in place, the unused room), then the new tokens
    const callMask = new Uint8Array(B * (past + T));
    for (let b = 0; b < B; b++) {
      callMask.set(mask.subarray(b * capacity, b * capacity + P), b * (past + T));
      callMask.set(mask.subarray(b * capacity + P, b * capacity + P + T), b * (past + T) + past);
    }
    return { call: { rows: B, tokens: T, past, ids, positions, mask: callMask, kv }, batch: { rows: B, length, capacity, mask, kv, position, rowCapacity: B } };
  }

  /** Puts a run's cache outputs into the batch: its new present (concat) or its T new positions at batch.length - T (in-place). */
  private take(batch: KvBatch, cache: KvData[], T: number): void {
    if (this.kvKind === 'concat') {
      batch.kv = cache;
      batch.rowCapacity = batch.rows;
      return;
    }
    const { kvHeads, headDim } = this.shape;
    const at = batch.length - T;
    const floats = batch.rows * kvHeads * batch.capacity * headDim;
    if (batch.kv[0]!.length < floats) {
      // the run's past had no room for its new positions: the same rows with that room
      const past = batch.kv[0]!.length / (batch.rows * kvHeads * headDim);
      batch.kv = batch.kv.map((src) => widen(src, batch.rows * kvHeads, past, batch.capacity, headDim));
      batch.rowCapacity = batch.rows;
    }
    cache.forEach((src, k) => {
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
        const encoded = await this.encodeRun(group.map((g) => ({ kv: g.kv, ids: g.ids.slice(0, T) })), output);
        group.forEach((g, b) => {
          const { kv } = encoded[b]!;
          if (g.ids.length > T) next.push({ i: g.i, kv, ids: g.ids.slice(T) });
          else results[g.i] = encoded[b]!;
        });
      }
      pending = next;
    }
    return results;
  }

  /**
   * One run of ragged rows, each returned as its own cache (its prefix, then its new tokens)
   * and `output` at its last new token. An in-place run returns just the new positions, so a
   * row's cache is its prefix and those, copied once; no padded batch is built around them.
   */
  private async encodeRun(rows: readonly Row[], output: OutputName): Promise<{ kv: SeqKv; out: Float32Array }[]> {
    const width = this.width(output);
    if (this.kvKind === 'concat') {
      const { batch, out } = await this.forward(rows, output);
      return rows.map((_, b) => ({ kv: this.extract(batch, b), out: out.slice(b * width, (b + 1) * width) }));
    }
    const { call } = this.call(rows, 0);
    const T = call.tokens;
    const { out, cache } = await this.runner.run(call, output);
    const { kvHeads, headDim } = this.shape;
    return rows.map((r, b) => {
      const L = r.kv?.length ?? 0;
      const n = r.ids.length; // the first n of the run's T positions (call())
      const data = cache.map((fresh, k) => {
        const own = kvArray(this.kvType, kvHeads * (L + n) * headDim);
        for (let h = 0; h < kvHeads; h++) {
          if (L > 0) own.set(r.kv!.data[k]!.subarray(h * L * headDim, (h + 1) * L * headDim), h * (L + n) * headDim);
          const at = (b * kvHeads + h) * T * headDim;
          own.set(fresh.subarray(at, at + n * headDim), (h * (L + n) + L) * headDim);
        }
        return own;
      });
      const at = (b * T + n - 1) * width;
      return { kv: { length: L + n, data }, out: out.slice(at, at + width) };
    });
  }

  /**
   * One decode step: row b appends tokens[b] when active[b] (else a masked pad that no row
   * ever attends to). Returns `output` per row ([rows, width]); the batch grows by one.
   */
  async step(batch: KvBatch, tokens: Int32Array, active: Uint8Array, output: OutputName): Promise<Float32Array> {
    const B = batch.rows;
    if (this.kvKind === 'in-place' && batch.length === batch.capacity) this.grow(batch, Math.max(16, batch.capacity));
    // the concat kind's cache grows by the step's position; the in-place kind's has room
    const capacity = this.kvKind === 'concat' ? batch.length + 1 : batch.capacity;
    const ids = new Int32Array(B);
    const positions = new Int32Array(B);
    const callMask = new Uint8Array(B * (batch.capacity + 1));
    const mask = this.kvKind === 'concat' ? new Uint8Array(B * capacity) : batch.mask;
    for (let b = 0; b < B; b++) {
      const row = batch.mask.subarray(b * batch.capacity, b * batch.capacity + batch.length);
      callMask.set(row, b * (batch.capacity + 1));
      callMask[b * (batch.capacity + 1) + batch.capacity] = active[b]!;
      if (this.kvKind === 'concat') mask.set(row, b * capacity);
      mask[b * capacity + batch.length] = active[b]!;
      ids[b] = active[b] ? tokens[b]! : 0;
      positions[b] = batch.position[b]!;
      if (active[b]) batch.position[b]!++;
    }
    const { out, cache } = await this.runner.run({ rows: B, tokens: 1, past: batch.capacity, ids, positions, mask: callMask, kv: batch.kv }, output);
    batch.length++;
    batch.capacity = capacity;
    batch.mask = mask;
    this.take(batch, cache, 1);
    return out;
  }

  /** An in-place batch with `more` positions of room (it ran out: a caller asked for less room than it used). */
  private grow(batch: KvBatch, more: number): void {
    const { kvHeads, headDim } = this.shape;
    const capacity = batch.capacity + more;
    batch.kv = batch.kv.map((src) => widen(src, batch.rows * kvHeads, batch.capacity, capacity, headDim));
    batch.mask = widen(batch.mask, batch.rows, batch.capacity, capacity, 1);
    batch.capacity = capacity;
    batch.rowCapacity = batch.rows;
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
      const dst = kvArray(this.kvType, kvHeads * n * headDim);
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
      rowCapacity: batch.rowCapacity,
    };
  }

  /**
   * The batch with rows appended, row batch.rows + j a copy of row sources[j]: a sequence
   * that forks, to go on from the same cache with another token. The batch passed in is spent;
   * its buffers are kept when they hold the rows (rowCapacity), else they grow by half.
   */
  branch(batch: KvBatch, sources: readonly number[]): KvBatch {
    const { kvHeads, headDim } = this.shape;
    const rows = batch.rows + sources.length;
    const rowFloats = kvHeads * batch.capacity * headDim;
    const rowCapacity = rows <= batch.rowCapacity ? batch.rowCapacity : Math.max(rows, Math.ceil(batch.rowCapacity * 1.5));
    const kv = batch.kv.map((data) => {
      let out: KvData;
      if (rowCapacity === batch.rowCapacity) {
        out = data instanceof Float32Array ? new Float32Array(data.buffer, data.byteOffset, rows * rowFloats) : new Uint16Array(data.buffer, data.byteOffset, rows * rowFloats);
      } else {
        out = kvArray(this.kvType, rowCapacity * rowFloats).subarray(0, rows * rowFloats);
        out.set(data.subarray(0, batch.rows * rowFloats));
      }
      sources.forEach((b, j) => out.copyWithin((batch.rows + j) * rowFloats, b * rowFloats, (b + 1) * rowFloats));
      return out;
    });
    const mask = new Uint8Array(rows * batch.capacity);
    mask.set(batch.mask.subarray(0, batch.rows * batch.capacity));
    sources.forEach((b, j) => mask.copyWithin((batch.rows + j) * batch.capacity, b * batch.capacity, (b + 1) * batch.capacity));
    const position = new Int32Array(rows);
    position.set(batch.position);
    sources.forEach((b, j) => (position[batch.rows + j] = batch.position[b]!));
    return { rows, length: batch.length, capacity: batch.capacity, mask, kv, position, rowCapacity };
  }

  release(): Promise<void> {
    return this.runner.release();
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
function widen<T extends Float32Array | Uint16Array | Uint8Array>(src: T, groups: number, from: number, to: number, width: number): T {
  const dst = new (src.constructor as new (n: number) => T)(groups * to * width);
  for (let g = 0; g < groups; g++) dst.set(src.subarray(g * from * width, (g + 1) * from * width), g * to * width);
  return dst;
}

/** A sequence's cache ([kvHeads, length, headDim] per layer and kind) into row b of a batch's ([rows, kvHeads, capacity, headDim]). */
function copyRows(src: readonly KvData[], length: number, dst: readonly KvData[], capacity: number, b: number, kvHeads: number, headDim: number): void {
  src.forEach((from, k) => {
    for (let h = 0; h < kvHeads; h++) {
      dst[k]!.set(from.subarray(h * length * headDim, (h + 1) * length * headDim), (b * kvHeads + h) * capacity * headDim);
    }
  });
}
