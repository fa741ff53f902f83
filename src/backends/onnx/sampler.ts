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

export function sampleToken(logits: Float32Array, o: SamplingOptions, random: () => number): number {
  if (o.temperature === 0) return argmax(logits);
  const top = logits[argmax(logits)]!;
  const floor = top - FLOOR_NATS * o.temperature;
  const ids: number[] = [];
  for (let i = 0; i < logits.length; i++) if (logits[i]! >= floor) ids.push(i);
  ids.sort((a, b) => logits[b]! - logits[a]! || a - b);
  if (o.topK > 0 && ids.length > o.topK) ids.length = o.topK;
  const p = ids.map((i) => Math.exp((logits[i]! - top) / o.temperature));
  let total = 0;
  for (const x of p) total += x;
  // nucleus: the smallest head of the sorted candidates holding topP of the mass
  let kept = p.length;
  if (o.topP < 1) {
    let mass = 0;
    for (let j = 0; j < p.length; j++) {
      mass += p[j]!;
      if (mass >= o.topP * total) {
        kept = j + 1;
        break;
      }
    }
    total = 0;
    for (let j = 0; j < kept; j++) total += p[j]!;
  }
  let u = random() * total;
  for (let j = 0; j < kept; j++) {
    u -= p[j]!;
    if (u < 0) return ids[j]!;
  }
  return ids[kept - 1]!;
}
