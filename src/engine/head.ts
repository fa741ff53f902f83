// The PPM's scalar head on a last hidden state: tanh((h . w + b) / 5). The same arithmetic
// as the native ppm_score (arena.cpp): eight float partial sums in a fixed order, tanh in
// double rounded once, so a score computed here equals the one the fused native step stores.

export interface PpmHead {
  weight: Float32Array;
  bias: number;
}

export function ppmScore(hidden: Float32Array, offset: number, head: PpmHead): number {
  const w = head.weight;
  const H = w.length;
  const f = Math.fround;
  const lane = new Float32Array(8);
  let i = 0;
  for (; i + 8 <= H; i += 8) for (let k = 0; k < 8; k++) lane[k] = f(lane[k]! + f(hidden[offset + i + k]! * w[i + k]!));
  for (let k = 0; i < H; i++, k++) lane[k] = f(lane[k]! + f(hidden[offset + i]! * w[i]!));
  const dot = f(f(f(lane[0]! + lane[1]!) + f(lane[2]! + lane[3]!)) + f(f(lane[4]! + lane[5]!) + f(lane[6]! + lane[7]!)));
  return f(Math.tanh(f(f(dot + f(head.bias)) / 5)));
}

/** A raw score r (a model's own scalar output) as a PPM value. */
export function rawScore(r: number): number {
  return Math.fround(Math.tanh(r / 5));
}
