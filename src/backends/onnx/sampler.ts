// Next-token sampling over one row of logits: temperature, top-k, top-p (nucleus).
// Temperature 0 is greedy (ties to the lowest id).
import { UsageError } from '../../errors.js';

export interface SamplingOptions {
  temperature: number;
  /** nucleus mass kept, in (0, 1] */
  topP: number;
  /** most candidates kept; 0 = no limit */
  topK: number;
}

/**
 * Tokens whose logit is this many nats below the best are never candidates: with a 150k
 * vocabulary their total mass is below 150k * e^-30 ~ 1e-8, and skipping them spares a sort
 * of the whole vocabulary per token.
 */
const FLOOR_NATS = 30;

export function validateSampling(o: SamplingOptions, who: string): void {
  if (!(o.temperature >= 0)) throw new UsageError(`${who}: temperature must be >= 0 (got ${o.temperature})`);
  if (!(o.topP > 0 && o.topP <= 1)) throw new UsageError(`${who}: top-p must be in (0, 1] (got ${o.topP})`);
  if (!(Number.isInteger(o.topK) && o.topK >= 0)) throw new UsageError(`${who}: top-k must be an integer >= 0 (got ${o.topK})`);
}

export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/** Candidates by descending logit, ties by ascending id. */
const byLogit = (logits: Float32Array) => (a: number, b: number) => logits[b]! - logits[a]! || a - b;

/**
 * The first `count` candidates in byLogit order, found one at a time (a sampled distribution
 * is usually peaked: a few picks end the nucleus, where a sort would order every candidate);
 * past 16 picks the rest are sorted once. `enough` ends the picks early (the nucleus's mass).
 */
function head(logits: Float32Array, ids: number[], count: number, weight: (i: number) => number, enough: number): { order: number[]; p: number[]; mass: number } {
  const order: number[] = [];
  const p: number[] = [];
  let mass = 0;
  const taken = new Uint8Array(ids.length);
  while (order.length < count && mass < enough) {
    if (order.length === 16) {
      for (const i of ids.filter((_, j) => !taken[j]).sort(byLogit(logits))) {
        if (order.length >= count || mass >= enough) break;
        order.push(i);
        p.push(weight(i));
        mass += p[p.length - 1]!;
      }
      break;
    }
    let best = -1;
    for (let j = 0; j < ids.length; j++) if (!taken[j] && (best < 0 || logits[ids[j]!]! > logits[ids[best]!]!)) best = j;
    taken[best] = 1;
    order.push(ids[best]!);
    p.push(weight(ids[best]!));
    mass += p[p.length - 1]!;
  }
  return { order, p, mass };
}

export function sampleToken(logits: Float32Array, o: SamplingOptions, random: () => number): number {
  if (o.temperature === 0) return argmax(logits);
  const top = logits[argmax(logits)]!;
  const floor = top - FLOOR_NATS * o.temperature;
  const weight = (i: number) => Math.exp((logits[i]! - top) / o.temperature);
  const ids: number[] = [];
  for (let i = 0; i < logits.length; i++) if (logits[i]! >= floor) ids.push(i);
  // top-k first (the nucleus is taken of the k best), then the nucleus: the smallest head
  // of the ordered candidates holding topP of their mass
  let order: number[];
  let p: number[];
  let mass: number;
  if (o.topK > 0 && o.topK < ids.length) {
    ({ order, p, mass } = head(logits, ids, o.topK, weight, Infinity));
    if (o.topP < 1) {
      const target = o.topP * mass;
      let kept = 0;
      for (mass = 0; kept < p.length && mass < target; kept++) mass += p[kept]!;
      order.length = p.length = kept;
    }
  } else if (o.topP < 1) {
    let total = 0;
    for (const i of ids) total += weight(i);
    ({ order, p, mass } = head(logits, ids, ids.length, weight, o.topP * total));
  } else {
    // every candidate is kept: no order needed
    order = ids;
    p = ids.map(weight);
    mass = 0;
    for (const x of p) mass += x;
  }
  let u = random() * mass;
  for (let j = 0; j < order.length; j++) {
    u -= p[j]!;
    if (u < 0) return order[j]!;
  }
  return order[order.length - 1]!;
}
