// Recently used prefixes' KV caches, bounded in bytes, least recently used out first.
// A child's prompt is its parent's prompt plus one step, so expanding (or scoring) a child
// finds its parent's entry and encodes only the new step.
//
// Entries are keyed by a hash of their token ids; a lookup hashes every prefix of the
// prompt once (O(length)) and takes the longest entry whose ids match exactly.
import { kvBytes, type SeqKv } from './decoder.js';

interface Entry {
  ids: Int32Array;
  kv: SeqKv;
  bytes: number;
}

export interface PrefixCacheStats {
  lookups: number;
  hits: number;
  /** prompt tokens that had to be encoded */
  encodedTokens: number;
  /** prompt tokens taken from the cache */
  reusedTokens: number;
  entries: number;
  bytes: number;
  evictions: number;
}

/** Two independent 26-bit polynomial hashes per prefix, packed in one exact number key. */
function prefixKeys(ids: ArrayLike<number>): Float64Array {
  const keys = new Float64Array(ids.length + 1);
  let a = 0;
  let b = 0;
  for (let i = 0; i < ids.length; i++) {
    a = (Math.imul(a, 0x01000193) + ids[i]! + 1) >>> 0;
    b = (Math.imul(b ^ (ids[i]! + 0x9e37), 0x5bd1e995) + 0x2f) >>> 0;
    keys[i + 1] = (a & 0x3ffffff) * 0x4000000 + (b & 0x3ffffff); // exact: < 2^52
  }
  return keys;
}

export class PrefixCache {
  private readonly entries = new Map<number, Entry>();
  private bytes = 0;
  readonly stats: PrefixCacheStats = { lookups: 0, hits: 0, encodedTokens: 0, reusedTokens: 0, entries: 0, bytes: 0, evictions: 0 };

  constructor(readonly maxBytes: number) {}

  /**
   * The longest cached prefix of `ids` no longer than `maxLength` (callers keep at least one
   * token to encode, for its output), and counts the lookup in the stats.
   */
  lookup(ids: readonly number[], maxLength = ids.length - 1): { length: number; kv?: SeqKv } {
    this.stats.lookups++;
    const keys = prefixKeys(ids);
    for (let n = Math.min(maxLength, ids.length); n > 0; n--) {
      const e = this.entries.get(keys[n]!);
      if (!e || e.ids.length !== n || !sameIds(e.ids, ids)) continue;
      // refresh: Map keeps insertion order, so the first key is the least recently used
      this.entries.delete(keys[n]!);
      this.entries.set(keys[n]!, e);
      this.stats.hits++;
      this.stats.reusedTokens += n;
      this.stats.encodedTokens += ids.length - n;
      return { length: n, kv: e.kv };
    }
    this.stats.encodedTokens += ids.length;
    return { length: 0 };
  }

  /** Keeps `kv`, the cache of exactly `ids`; an entry larger than the whole budget is not kept. */
  store(ids: readonly number[], kv: SeqKv): void {
    if (kv.length !== ids.length) throw new Error(`prefix cache: a KV of ${kv.length} positions stored for ${ids.length} tokens`);
    const bytes = kvBytes(kv);
    if (ids.length === 0 || bytes > this.maxBytes) return;
    const key = prefixKeys(ids)[ids.length]!;
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.bytes -= old.bytes;
    }
    this.entries.set(key, { ids: Int32Array.from(ids), kv, bytes });
    this.bytes += bytes;
    for (const [k, e] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= e.bytes;
      this.stats.evictions++;
    }
    this.stats.entries = this.entries.size;
    this.stats.bytes = this.bytes;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
    this.stats.entries = 0;
    this.stats.bytes = 0;
  }
}

function sameIds(a: Int32Array, ids: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== ids[i]) return false;
  return true;
}
