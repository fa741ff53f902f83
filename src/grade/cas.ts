// The grader's computer algebra: @cortex-js/compute-engine parses the LaTeX, simplifies it
// to its canonical form and evaluates it. Two values are equal when their canonical forms
// are the same, or when they evaluate to the same number; two expressions with variables
// are equal when they agree at a fixed set of sample points (as MARIO's grader does with
// random ones). Machine precision throughout: bignum evaluation of 10^{10^{10}} runs out
// of memory, doubles give Infinity at once.
import { ComputeEngine } from '@cortex-js/compute-engine';
import { closingBrace, greekLetter } from './answer-text.js';
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

/** Index just past the bracket that closes the `(` or `{` at `open`, or -1 when it is never closed. */
function closingBracket(s: string, open: number): number {
  if (s[open] === '{') return closingBrace(s, open);
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '(') depth++;
    else if (s[i] === ')' && --depth === 0) return i + 1;
  }
  return -1;
}

/**
 * Where the argument of `\exp` or cis starting at `from` ends: a bracketed group, a
 * `\frac{..}{..}`, or one number, letter or command (`cis \theta`); -1 when none.
 */
function argumentEnd(tex: string, from: number): number {
  if (tex[from] === '(' || tex[from] === '{') return closingBracket(tex, from);
  if (tex.startsWith('\\frac', from)) {
    const open = tex.indexOf('{', from);
    const end1 = open < 0 || /\S/.test(tex.slice(from + 5, open)) ? -1 : closingBrace(tex, open);
    return end1 < 0 || tex[end1] !== '{' ? -1 : closingBrace(tex, end1);
  }
  const token = /^(?:\d+(?:\.\d+)?|\\[a-zA-Z]+|[a-zA-Z])/.exec(tex.slice(from));
  return token ? from + token[0].length : -1;
}

/**
 * `\exp(z)` and `cis z` (cos z + i sin z) as powers of e, in brackets: the engine reads a
 * product `\exp(a)\exp(b)` as a tuple, and cis not at all.
 */
function exponentials(tex: string): string {
  const head = /\\exp(?![a-zA-Z])|\\operatorname\{cis\}|(?<![a-zA-Z\\])cis(?![a-zA-Z])/g;
  let out = '';
  let from = 0;
  for (let m = head.exec(tex); m !== null; m = head.exec(tex)) {
    let open = m.index + m[0].length;
    while (tex[open] === ' ') open++;
    const end = argumentEnd(tex, open);
    if (end < 0) continue;
    const bracketed = tex[open] === '(' || tex[open] === '{';
    const argument = exponentials(bracketed ? tex.slice(open + 1, end - 1) : tex.slice(open, end));
    out += tex.slice(from, m.index) + (m[0] === '\\exp' ? `(e^{(${argument})})` : `(e^{i(${argument})})`);
    from = end;
    head.lastIndex = end;
  }
  return out + tex.slice(from);
}

/**
 * Rewrites what the engine misreads: subscripted variables (`a_1`, `\theta_1`: parsed as
 * indexing into a list) become plain symbols, `\binom{n}{k}` (unknown to its parser) becomes
 * its `Choose` function, and `\exp(...)`, `cis(...)` powers of e.
 */
function forEngine(tex: string): string {
  let s = exponentials(tex).replace(
    new RegExp(String.raw`((?<![a-zA-Z\\])[a-zA-Z]|${greekLetter.source})_(?:\{([a-zA-Z0-9]+)\}|([a-zA-Z0-9]))`, 'g'),
    (_, v: string, a?: string, b?: string) => `\\operatorname{${v.replace('\\', '')}_${a ?? b}}`,
  );
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
  const [xs, ys] = [continuous(x), continuous(y)];
  // |u| is u at the positive points: with an absolute value, negated points (where both
  // sides are real) must agree too, so |x| is not x
  const points = /"Abs"/.test(JSON.stringify([x.json, y.json])) ? 2 * samplePoints : samplePoints;
  let defined = 0;
  for (let p = 0; p < points; p++) {
    const at = samplePoint(variables, p);
    const left = evaluate(xs, at);
    const right = evaluate(ys, at);
    if (left === undefined || right === undefined) continue;
    if (p >= samplePoints && (left.im !== 0 || right.im !== 0)) continue;
    if (!complexEqual(left, right)) return false;
    if (p < samplePoints) defined++;
  }
  return defined >= minDefinedPoints;
}

/** The values of the variables at sample point p (sampleValues); negated for p >= samplePoints. */
function samplePoint(variables: readonly string[], p: number): Record<string, number> {
  const sign = p < samplePoints ? 1 : -1;
  return Object.fromEntries(variables.map((name, k) => [name, sign * sampleValues[(p + 3 * k) % sampleValues.length]!]));
}

/** MathJSON with every n! as Gamma(n + 1), and every binomial coefficient as factorials so. */
function gammaForFactorial(json: unknown): unknown {
  if (!Array.isArray(json)) return json;
  const args = json.slice(1).map(gammaForFactorial);
  const gamma = (x: unknown) => ['Gamma', ['Add', x, 1]];
  if (json[0] === 'Factorial' && args.length === 1) return gamma(args[0]);
  if (json[0] === 'Choose' && args.length === 2) return ['Divide', gamma(args[0]), ['Multiply', gamma(args[1]), gamma(['Subtract', args[0], args[1]])]];
  return [json[0], ...args];
}

/**
 * expr with its factorials (and binomial coefficients) as Gamma functions, for sampling:
 * the engine rounds the argument of a factorial to an integer (4.5! is 5! = 120), so
 * n (n-1)! and n! differ at n = 4.5, and has no binomial coefficients of non-integers,
 * while Gamma keeps every factorial identity at every point.
 */
function continuous(expr: BoxedExpression): BoxedExpression {
  if (!/"(?:Factorial|Choose)"/.test(JSON.stringify(expr.json))) return expr;
  try {
    return ce.box(gammaForFactorial(expr.json) as Parameters<typeof ce.box>[0]);
  } catch {
    return expr;
  }
}

/** Values at most this far from 0 count as 0 in casRatio: at a root, doubles cancel to ~1e-16 rather than 0. */
const ratioZero = 1e-9;

/**
 * The constant c with a = c * b, when a and b have the same variables and agree up to that
 * factor at every sample point where both are real (at least minDefinedPoints points where
 * they are not 0); undefined otherwise, and for constants. `lhs - rhs` of two equations with
 * such a c (nonzero) describe the same curve, of two inequalities (c > 0) the same region.
 * The points are also taken negated: |x| - 1 and x - 1 agree at positive x only. Call
 * inside withCas.
 */
export function casRatio(a: string, b: string): number | undefined {
  try {
    const x = box(a);
    const y = box(b);
    if (x === undefined || y === undefined) return undefined;
    const variables = [...x.freeVariables].sort();
    if (variables.length === 0 || variables.join() !== [...y.freeVariables].sort().join()) return undefined;
    const [xs, ys] = [continuous(x), continuous(y)];
    let ratio: number | undefined;
    let defined = 0;
    for (let p = 0; p < 2 * samplePoints; p++) {
      const at = samplePoint(variables, p);
      const u = evaluate(xs, at);
      const v = evaluate(ys, at);
      if (u === undefined || v === undefined || u.im !== 0 || v.im !== 0 || !Number.isFinite(u.re) || !Number.isFinite(v.re)) continue;
      const [uZero, vZero] = [Math.abs(u.re) <= ratioZero, Math.abs(v.re) <= ratioZero];
      if (uZero && vZero) continue; // a common root: the ratio is not defined there
      if (uZero || vZero) return undefined;
      const r = u.re / v.re;
      if (ratio !== undefined && !nearlyEqual(ratio, r)) return undefined;
      ratio ??= r;
      defined++;
    }
    return defined >= minDefinedPoints ? ratio : undefined;
  } catch {
    return undefined;
  }
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
