// Plain numbers in answers, read without a computer algebra system (the grader's fast path):
// integers, decimals, scientific notation, fractions, mixed numbers and percentages.

/**
 * Relative tolerance for numeric equality. rStar-Math grades with MARIO's math_evaluation
 * (EPSILON = 1e-3, absolute for integer golds) and Qwen2.5-Math with `isclose(rel_tol=1e-4)`;
 * we are stricter: the policy's answers come from Python, which prints floats in full, and a
 * value that is off in its fifth significant digit is a different answer.
 */
export const relativeTolerance = 1e-6;
/** How close to an exact 0 a value must be to equal it (cos(pi/2) evaluates to 6e-17). */
export const zeroTolerance = 1e-12;

export interface ParsedNumber {
  value: number;
  /** set when the text is an integer: compared exactly, however large */
  integer?: bigint;
  /** written with a % sign: 10% may mean 10 or 0.1 */
  percent: boolean;
}

export function nearlyEqual(a: number, b: number): boolean {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  if (a === 0 || b === 0) return Math.abs(a - b) <= zeroTolerance;
  return Math.abs(a - b) <= relativeTolerance * Math.max(Math.abs(a), Math.abs(b));
}

const decimal = String.raw`(?:\d+(?:\.\d*)?|\.\d+)`;
const exponent = String.raw`(?:[eE]([-+]?\d+)|\s*(?:\\times|\\cdot|\*|×)\s*10\s*\^\s*\{?\s*([-+]?\d+)\s*\}?)`;
const plainNumber = new RegExp(String.raw`^([-+]?)(${decimal})${exponent}?$`);
const texFraction = new RegExp(String.raw`^([-+]?)\\frac\s*\{\s*([-+]?)(${decimal})\s*\}\s*\{\s*([-+]?)(${decimal})\s*\}$`);
// the empty group keeps the numerator's sign where texFraction has it
const slashFraction = new RegExp(String.raw`^([-+]?)()(${decimal})\s*/\s*([-+]?)(${decimal})$`);
// no space between the integer and the fraction: "3025 \frac{1}{2017}" is a product
const mixedNumber = new RegExp(String.raw`^([-+]?)(\d+)\\frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}$`);

const sign = (s: string | undefined): number => (s === '-' ? -1 : 1);

/** The number a plain numeric answer denotes, or undefined when it is anything else. */
export function parseNumber(tex: string): ParsedNumber | undefined {
  let s = tex.trim();
  const percent = s.endsWith('%');
  if (percent) s = s.slice(0, -1).trim();
  let m = plainNumber.exec(s);
  if (m) {
    const [, sg, digits, e1, e2] = m;
    const exp = e1 ?? e2;
    const value = sign(sg) * Number(digits) * (exp === undefined ? 1 : 10 ** Number(exp));
    const isInteger = exp === undefined && /^\d+$/.test(digits!);
    return isInteger ? { value, integer: BigInt(sign(sg)) * BigInt(digits!), percent } : { value, percent };
  }
  m = texFraction.exec(s) ?? slashFraction.exec(s);
  if (m) {
    const [, s0, s1, a, s2, b] = m;
    const denominator = sign(s2) * Number(b);
    return denominator === 0 ? undefined : { value: (sign(s0) * sign(s1) * Number(a)) / denominator, percent };
  }
  // 1\frac{1}{4} is the mixed number 5/4 (the MATH convention), not a product
  m = mixedNumber.exec(s);
  if (m) return { value: sign(m[1]) * (Number(m[2]) + Number(m[3]) / Number(m[4])), percent };
  return undefined;
}

/** Values a number may stand for: a percentage is read as itself or as a fraction of 100. */
function readings(n: ParsedNumber): number[] {
  return n.percent ? [n.value, n.value / 100] : [n.value];
}

/** Equal numbers: integers exactly, anything else within the relative tolerance. */
export function numbersEqual(a: ParsedNumber, b: ParsedNumber): boolean {
  if (a.integer !== undefined && b.integer !== undefined && !a.percent && !b.percent) return a.integer === b.integer;
  return readings(a).some((x) => readings(b).some((y) => nearlyEqual(x, y)));
}
