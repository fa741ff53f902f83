// The grader's computer algebra: @cortex-js/compute-engine parses the LaTeX, simplifies it
// to its canonical form and evaluates it. Two values are equal when their canonical forms
// are the same, or when they evaluate to the same number; two expressions with variables
// are equal when they agree at a fixed set of sample points (as MARIO's grader does with
// random ones). Machine precision throughout: bignum evaluation of 10^{10^{10}} runs out
// of memory, doubles give Infinity at once.
import { ComputeEngine } from '@cortex-js/compute-engine';
import { closingBrace } from './answer-text.js';
import { nearlyEqual, relativeTolerance, zeroTolerance } from './answer-number.js';

// The package's type declarations use extensionless relative re-exports that nodenext
// resolution does not follow, so its BoxedExpression is not importable (and reads as any).
type BoxedExpression = ReturnType<ComputeEngine['parse']>;

const ce = new ComputeEngine();
ce.precision = 'machine';

/**
 * Values for the variables at the sample points: positive (so roots and logarithms are
 * real, as on the domain the answers usually mean), integers and non-integers (floor and
 * ceiling must not agree by accident). Variable k at point p takes values[(p + 3k) % n].
 */
const sampleValues = [1.37, 2, 0.53, 4, 3, 2.71, 7, 1.91, 5.5, 0.29, 11];
const samplePoints = 8;
/**
 * Points where both sides must be defined (and agree) for expressions to count as equal.
 * A point where one side has no value is skipped, not held against equality: the engine
 * evaluates some functions only at integers (\binom{n+1}{2} at n = 1.37 has no value).
 */
const minDefinedPoints = 3;

let parsed: Map<string, BoxedExpression | undefined> | undefined;

/**
 * Runs fn in a fresh scope of the engine: symbols the parser declares on the way (a
 * variable's type, a function's signature) are dropped afterwards, so a comparison cannot
 * change how a later one reads. Parsed texts are cached for the length of the call.
 */
export function withCas<T>(fn: () => T): T {
  if (parsed !== undefined) return fn();
  ce.pushScope();
  parsed = new Map();
  const saved = silenceConsole();
  try {
    return fn();
  } finally {
    Object.assign(console, saved);
    parsed = undefined;
    ce.popScope();
  }
}

/**
 * The engine logs what it catches (type errors, failed assertions) with console.error and
 * friends: for odd answers that floods stderr with noise no caller can act on. The calls
 * here are synchronous, so nothing else runs while the console is quiet.
 */
function silenceConsole(): Partial<Console> {
  const saved = { error: console.error, warn: console.warn, log: console.log, info: console.info, assert: console.assert };
  const quiet = () => {};
  Object.assign(console, { error: quiet, warn: quiet, log: quiet, info: quiet, assert: quiet });
  return saved;
}

/**
 * Rewrites what the engine misreads: subscripted variables (`a_1` is parsed as indexing
 * into a list `a`) become plain symbols, and `\binom{n}{k}` (unknown to its parser)
 * becomes its `Choose` function.
 */
function forEngine(tex: string): string {
  let s = tex.replace(/(?<![a-zA-Z\\])([a-zA-Z])_(?:\{([a-zA-Z0-9]+)\}|([a-zA-Z0-9]))/g, (_, v: string, a?: string, b?: string) => `\\operatorname{${v}_${a ?? b}}`);
  for (let at = s.indexOf('\\binom'); at >= 0; at = s.indexOf('\\binom', at + 1)) {
    const open1 = s.indexOf('{', at);
    const end1 = open1 < 0 ? -1 : closingBrace(s, open1);
    if (end1 < 0 || s[end1] !== '{' || /\S/.test(s.slice(at + 6, open1))) break;
    const end2 = closingBrace(s, end1);
    if (end2 < 0) break;
    s = `${s.slice(0, at)}\\operatorname{Choose}(${s.slice(open1 + 1, end1 - 1)},${s.slice(end1 + 1, end2 - 1)})${s.slice(end2)}`;
  }
  return s;
}

function box(tex: string, canonical: 'full' | 'partial' = 'full'): BoxedExpression | undefined {
  const key = canonical === 'full' ? tex : `partial:${tex}`;
  const cache = parsed!;
  if (cache.has(key)) return cache.get(key);
  let expr: BoxedExpression | undefined;
  try {
    expr = canonical === 'full' ? ce.parse(forEngine(tex)) : ce.parse(forEngine(tex), { canonical: ['Number', 'Order'] });
    if (!expr.isValid) expr = undefined;
  } catch {
    // the parser throws on some malformed input instead of returning an error node
    expr = undefined;
  }
  cache.set(key, expr);
  return expr;
}

interface Complex {
  re: number;
  im: number;
}

/** Above this, n! is beyond doubles, and the engine computes it exactly (2014! takes seconds). */
const largestFactorial = 170;
/**
 * Sums and products with more terms than this are not evaluated: the engine adds them one by
 * one (seconds per million) and beyond about a million it silently stops early
 * (\sum_{k=1}^{10^9} k comes out as 500001500001); infinite ones come out as NaN after a second.
 */
const mostTerms = 1e6;

/** The value of a MathJSON bound (10^9 is ["Power", 10, 9]); NaN when it has variables. */
function asNumber(json: unknown): number {
  if (typeof json === 'number') return json;
  try {
    return ce.box(json as Parameters<typeof ce.box>[0]).N().re;
  } catch {
    return NaN;
  }
}

/** Whether the MathJSON holds what the engine cannot evaluate in reasonable time or correctly. */
function unevaluable(json: unknown): boolean {
  if (!Array.isArray(json)) return false;
  const head = json[0];
  if ((head === 'Factorial' || head === 'Factorial2') && asNumber(json[1]) > largestFactorial) return true;
  if (head === 'Sum' || head === 'Product') {
    for (const limits of json.slice(2)) {
      if (!Array.isArray(limits)) continue;
      const span = asNumber(limits[3]) - asNumber(limits[2]);
      // symbolic bounds (NaN span) get numbers only at the sample points, where they are small
      if (span > mostTerms || span === Infinity || span === -Infinity) return true;
    }
  }
  return json.some(unevaluable);
}

/** The numeric value of expr (with the substitution), or undefined when it has none. */
function evaluate(expr: BoxedExpression, at?: Record<string, number>): Complex | undefined {
  try {
    const e = at === undefined ? expr : expr.subs(at);
    if (unevaluable(e.json)) return undefined;
    const n = e.N();
    const re = n.re;
    const im = n.im;
    if (Number.isNaN(re) || Number.isNaN(im)) return undefined;
    // an infinite value is an answer only when infinity was written: 3^{2007} overflows doubles
    if ((!Number.isFinite(re) || !Number.isFinite(im)) && !JSON.stringify(e.json).includes('Infinity')) return undefined;
    return { re, im };
  } catch {
    // evaluation of some inputs throws (stack overflow on an unknown function applied to a tuple)
    return undefined;
  }
}

/**
 * The value of a constant expression. The engine's full canonical form turns some complex
 * sums into NaN (`\frac{48i-56}{85}`); the partly canonical form then still has the value.
 */
function constantValue(tex: string, expr: BoxedExpression): Complex | undefined {
  const value = evaluate(expr);
  if (value !== undefined) return value;
  const partial = box(tex, 'partial');
  return partial === undefined ? undefined : evaluate(partial);
}

function complexEqual(a: Complex, b: Complex): boolean {
  if (a.im === 0 && b.im === 0) return nearlyEqual(a.re, b.re);
  const d = Math.hypot(a.re - b.re, a.im - b.im);
  const size = Math.max(Math.hypot(a.re, a.im), Math.hypot(b.re, b.im));
  return d <= Math.max(zeroTolerance, relativeTolerance * size);
}

/**
 * Symbolic or numeric equality of two LaTeX expressions; false when either cannot be read
 * or the engine fails on them (it throws on some: a sum over `i` tries to assign to the
 * imaginary unit). Call inside withCas.
 */
export function casEqual(a: string, b: string): boolean {
  try {
    return casEqualOrThrow(a, b);
  } catch {
    return false;
  }
}

function casEqualOrThrow(a: string, b: string): boolean {
  const x = box(a);
  const y = box(b);
  if (x === undefined || y === undefined) return false;
  // constants first: the engine lists the bound variable of a sum or integral as free, and
  // its isSame calls numbers within 1e-10 the same (1.5775e-7 and 1.5774e-7)
  const u = constantValue(a, x);
  const v = constantValue(b, y);
  if (u !== undefined && v !== undefined) return complexEqual(u, v);
  // the same canonical form (also for constants too large to evaluate: 2^{2018}-1, -1+2^{2018})
  if (x.isSame(y)) return true;
  // expressions with variables agree at every sample point; a constant is the same at all
  // of them (sin^2 x + cos^2 x is 1)
  const variables = [...(u === undefined ? x : y).freeVariables].sort();
  if (u === undefined && v === undefined && variables.join() !== [...y.freeVariables].sort().join()) return false;
  let defined = 0;
  for (let p = 0; p < samplePoints; p++) {
    const at = Object.fromEntries(variables.map((name, k) => [name, sampleValues[(p + 3 * k) % sampleValues.length]!]));
    const left = evaluate(x, at);
    const right = evaluate(y, at);
    if (left === undefined || right === undefined) continue;
    if (!complexEqual(left, right)) return false;
    defined++;
  }
  return defined >= minDefinedPoints;
}

/**
 * The engine's own LaTeX for tex (of its canonical form), when that rendering reads back as
 * the same expression; undefined when it does not (its serializer drops brackets in places:
 * (n+1)! - (n-1)! comes out as n+1!-n-1!). A re-rendering to test the grader with. Call
 * inside withCas.
 */
export function engineRendering(tex: string): string | undefined {
  try {
    const expr = box(tex);
    if (expr === undefined) return undefined;
    const latex = String(expr.latex);
    const back = box(latex);
    return back !== undefined && back.isSame(expr) && !/NaN|\\error|\\mathrm\{/.test(latex) ? latex : undefined;
  } catch {
    return undefined;
  }
}

/** The real value of a constant expression, if it has one. Call inside withCas. */
export function realValue(tex: string): number | undefined {
  try {
    const expr = box(tex);
    const value = expr === undefined ? undefined : constantValue(tex, expr);
    return value !== undefined && value.im === 0 && Number.isFinite(value.re) ? value.re : undefined;
  } catch {
    return undefined;
  }
}
