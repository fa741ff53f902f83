// The shape of a cleaned answer: a value, an ordered list (tuple, interval, point), an
// unordered one (a set, several answers), a matrix, an equation, a chain of inequalities
// or prose. Some texts read two ways ("48,384" is a number or two answers); parseAnswer
// gives every reading and the grader accepts a match with any of them.
import { greekLetter, hasVariable, isProse, stripUnits } from './answer-text.js';

export type Answer =
  | { kind: 'scalar'; tex: string }
  | { kind: 'prose'; text: string }
  | { kind: 'ordered'; open: string; close: string; items: Answer[] }
  | { kind: 'unordered'; items: Answer[] }
  | { kind: 'matrix'; rows: Answer[][] }
  /** `x = 3`, `f(x) = 2x`, `|AB| = 1`, `x \in [1, 2]`: simple when the left side names the value (namesValue) */
  | { kind: 'equation'; relation: '=' | 'in'; lhs: string; rhs: Answer; rhsTex: string; simple: boolean }
  /** `a < x \leq b`: terms[i] ops[i] terms[i+1] */
  | { kind: 'relation'; terms: string[]; ops: RelationOp[] };

export type RelationOp = '<' | '>' | '\\leq' | '\\geq' | '\\neq';

/** Nesting deeper than this is not taken apart (it is compared as one value). */
const maxDepth = 6;

/**
 * Splits s at the separators `sep` (a sticky regex, tried at every position) that are outside
 * all brackets. `(`, `[`, `{`, `\{` open and any closer closes, so half-open intervals nest.
 */
export function splitTop(s: string, sep: RegExp, keep = false): string[] {
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < s.length; ) {
    if (depth === 0) {
      sep.lastIndex = i;
      const m = sep.exec(s);
      if (m && m[0].length > 0) {
        parts.push(s.slice(from, i));
        if (keep) parts.push(m[0]);
        i += m[0].length;
        from = i;
        continue;
      }
    }
    const ch = s[i]!;
    if (ch === '\\') {
      const next = s[i + 1];
      if (next === '{') depth++;
      else if (next === '}') depth = Math.max(0, depth - 1);
      const name = /^[a-zA-Z]+/.exec(s.slice(i + 1));
      i += name ? name[0].length + 1 : 2;
      continue;
    }
    if (ch === '(' || ch === '[' || ch === '{') depth++;
    else if (ch === ')' || ch === ']' || ch === '}') depth = Math.max(0, depth - 1);
    i++;
  }
  parts.push(s.slice(from));
  return parts;
}

const severalAnswers = /,|;|(?<![a-zA-Z\\])(?:or|and)(?![a-zA-Z])/y;
const union = /\\cup(?![a-zA-Z])/y;
const equals = /=/y;
const member = /\\in(?![a-zA-Z])/y;
const relationOps = /<|>|\\leq(?![a-zA-Z])|\\geq(?![a-zA-Z])|\\neq(?![a-zA-Z])/y;
const thousands = /^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$/;

/** A variable, a subscripted or primed one, a Greek letter, or a function of variables: `x`, `a_1`, `\theta`, `f(x)`. */
const simpleLhs = /^(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_(?:\{[^{}]*\}|[a-zA-Z0-9]))?(?:'|\^\{?\\prime\}?)*(?:\([^()]*\))?$/;
/** Marks around names of geometric quantities and ratios: |AB|, \overline{BC}, m\angle ABC, \frac{NO}{BO}. */
const nameMarks = /\\(?:angle|measuredangle|triangle|overline|overrightarrow|vec|widehat|hat|frac|operatorname|[a-zA-Z]*[Vv]ert)(?![a-zA-Z])|\\\||[|{}]/g;

/**
 * Whether the left side of `lhs = value` names what the value is, so that the value alone is
 * the same answer: a variable or function of variables (simpleLhs), a tuple of names
 * (`(p,q) = (3,2)`), or letters in geometric marks (`|AB|`, `\frac{NO}{BO}`, `Area`). Not
 * when it computes something (`x + y`, `2AB`, `AB^2`: no operators, digits or powers).
 */
function namesValue(lhs: string): boolean {
  const s = lhs.replace(/\s+/g, '');
  if (simpleLhs.test(s)) return true;
  const tuple = enclosing(s);
  if (tuple?.open === '(' && tuple.close === ')') {
    const items = splitTop(tuple.inner, /,/y);
    return items.length > 1 && items.every(namesValue);
  }
  // subscripts (a_1) and Greek letters are parts of names; then only letters may be left
  const letters = lhs.replace(/_(?:\{[^{}]*\}|[a-zA-Z0-9])/g, '').replace(nameMarks, '').replace(greekLetter, 'a').replace(/\s+/g, '');
  return /^[a-zA-Z]+$/.test(letters);
}

/** The brackets around the whole of s, when one pair encloses all of it. */
export function enclosing(s: string): { open: string; close: string; inner: string } | undefined {
  if (s.startsWith('\\{') && s.endsWith('\\}')) {
    const inner = s.slice(2, -2);
    // `\{1\} \cup \{2\}` starts and ends with braces that are not one pair: its inner part is unbalanced
    return balanced(inner) ? { open: '{', close: '}', inner } : undefined;
  }
  const open = s[0];
  const close = s[s.length - 1];
  if (s.length < 2 || (open !== '(' && open !== '[') || (close !== ')' && close !== ']')) return undefined;
  const inner = s.slice(1, -1);
  return balanced(inner) ? { open, close, inner } : undefined;
}

/** Brackets in s never close more than they opened (so s's outer pair really is one pair). */
function balanced(s: string): boolean {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '\\') {
      if (s[i + 1] === '{') depth++;
      else if (s[i + 1] === '}' && --depth < 0) return false;
      i++;
    } else if (ch === '(' || ch === '[' || ch === '{') depth++;
    else if ((ch === ')' || ch === ']' || ch === '}') && --depth < 0) return false;
  }
  return depth === 0;
}

const matrixEnv = /^\\begin\{([pbBvV]?matrix|array)\}(?:\{[^{}]*\})?([\s\S]*)\\end\{\1\}$/;

function parseMatrix(s: string, level: number): Answer | undefined {
  const m = matrixEnv.exec(s);
  if (!m) return undefined;
  const rows = splitTop(m[2]!, /\\\\/y)
    .map((row) => row.trim())
    .filter((row) => row !== '' && row !== '\\hline');
  return { kind: 'matrix', rows: rows.map((row) => splitTop(row, /&/y).map((cell) => read(cell, level + 1)[0]!)) };
}

function trimAnswer(s: string): string {
  return s.trim().replace(/^[,;]+|[,;.]+$/g, '').trim();
}

/** Every reading of a cleaned answer, the most literal first. */
export function parseAnswer(clean: string): Answer[] {
  return read(clean, 0);
}

function read(text: string, level: number): Answer[] {
  const s = trimAnswer(text);
  if (level > maxDepth || s === '') return [scalarOrProse(s)];

  const cups = splitTop(s, union);
  if (cups.length > 1) return [unordered(cups.map((p) => read(p, level + 1)[0]!))];

  const parts = splitTop(s, severalAnswers).map(trimAnswer).filter((p) => p !== '');
  if (parts.length > 1) {
    const readings: Answer[] = [];
    // 48,384: a number with a thousands separator, or two answers; 1,000 only a number
    // (nobody lists the answer 000)
    const number = stripUnits(s);
    const grouped = thousands.test(number);
    if (grouped) readings.push({ kind: 'scalar', tex: number.replace(/,/g, '') });
    if (!grouped || !/,0/.test(number)) readings.push(unordered(parts.map((p) => read(p, level + 1)[0]!)));
    return readings;
  }

  // 2 \pm \sqrt{3} is two answers (one \pm only: more would be 2^n answers, rarely meant)
  const pm = s.split(/\\pm(?![a-zA-Z])/);
  if (pm.length === 2) return [unordered([read(pm.join('+'), level + 1)[0]!, read(pm.join('-'), level + 1)[0]!])];

  const matrix = parseMatrix(s, level);
  if (matrix) return [matrix];

  const brackets = enclosing(s);
  if (brackets) return readBracketed(brackets, level);

  const equation = readEquation(s, level);
  if (equation) return [equation];

  const relation = readRelation(s);
  if (relation) return [relation];

  return [scalarOrProse(stripUnits(s))];
}

function readBracketed({ open, close, inner }: { open: string; close: string; inner: string }, level: number): Answer[] {
  const items = splitTop(inner, /,|;/y).map(trimAnswer);
  // set-builder notation {x | x > 0} is compared as written (a bar that opens no |x| pair, or
  // a colon), and, for one variable and a relation, as the relation (x > 0)
  if (open === '{' && ((items[0]!.match(/\|/g)?.length ?? 0) % 2 === 1 || items[0]!.includes(':'))) {
    const condition = /^\s*(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_(?:\{[^{}]*\}|[a-zA-Z0-9]))?\s*[|:]([\s\S]+)$/.exec(inner)?.[1];
    const reading = condition === undefined ? undefined : read(condition, level + 1)[0]!;
    const asWritten = scalarOrProse(`\\{${inner}\\}`);
    return reading?.kind === 'relation' ? [asWritten, reading] : [asWritten];
  }
  if (open === '{') return [unordered(items.filter((p) => p !== '').map((p) => read(p, level + 1)[0]!))];
  if (items.length === 1) {
    // (5) is 5 and [\begin{array}...] a matrix, while [5] stays a one-element list
    const single = read(inner, level + 1);
    if ((open === '(' && close === ')') || single[0]!.kind === 'matrix') return single;
  }
  return [{ kind: 'ordered', open, close, items: items.map((p) => read(p, level + 1)[0]!) }];
}

function readEquation(s: string, level: number): Answer | undefined {
  for (const [relation, sep] of [['=', equals], ['in', member]] as const) {
    const sides = splitTop(s, sep);
    // a chain of names ends in their value: AB = BC = 5 is AB = 5
    if (sides.length < 2 || (sides.length > 2 && (relation !== '=' || !sides.slice(0, -1).every(namesValue)))) continue;
    const lhs = sides[0]!.trim();
    const rhsTex = trimAnswer(sides[sides.length - 1]!);
    if (lhs === '' || rhsTex === '') return undefined;
    const simple = namesValue(lhs);
    return { kind: 'equation', relation, lhs, rhs: read(rhsTex, level + 1)[0]!, rhsTex, simple };
  }
  return undefined;
}

function readRelation(s: string): Answer | undefined {
  const pieces = splitTop(s, relationOps, true).map((p) => p.trim());
  if (pieces.length < 3) return undefined;
  const terms = pieces.filter((_, i) => i % 2 === 0);
  const ops = pieces.filter((_, i) => i % 2 === 1) as RelationOp[];
  return terms.some((t) => t === '') ? undefined : { kind: 'relation', terms, ops };
}

function unordered(items: Answer[]): Answer {
  return items.length === 1 ? items[0]! : { kind: 'unordered', items };
}

function scalarOrProse(tex: string): Answer {
  return isProse(tex) ? { kind: 'prose', text: tex.replace(/\s+/g, '').toLowerCase() } : { kind: 'scalar', tex };
}

/**
 * A relation with one variable between constant bounds as the interval it describes:
 * `-2 \leq x < 1` -> [-2, 1), `x > 3` -> (3, \infty). Undefined for anything else (the
 * grader compares `-x > -1` with an interval as conditions on x instead).
 */
export function relationAsInterval(r: Extract<Answer, { kind: 'relation' }>): Extract<Answer, { kind: 'ordered' }> | undefined {
  const variables = r.terms.filter(hasVariable);
  if (variables.length !== 1 || r.ops.includes('\\neq')) return undefined;
  // read from left to right as "low < x < high" by flipping a > chain
  const flip = r.ops.every((op) => op === '>' || op === '\\geq');
  if (!flip && !r.ops.every((op) => op === '<' || op === '\\leq')) return undefined;
  const terms = flip ? [...r.terms].reverse() : r.terms;
  const ops = (flip ? [...r.ops].reverse() : r.ops).map((op) => (op === '>' || op === '<' ? 'strict' : 'loose'));
  const at = terms.findIndex(hasVariable);
  // the variable itself, not an expression in it: 2x < 6 and |x| < 1 are not (-\infty, 6), (-\infty, 1)
  if (!/^(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_(?:\{[^{}]*\}|[a-zA-Z0-9]))?$/.test(terms[at]!.replace(/\s+/g, ''))) return undefined;
  if (terms.length === 2) {
    const bound = { kind: 'scalar', tex: terms[1 - at]! } as const;
    return at === 0
      ? { kind: 'ordered', open: '(', close: ops[0] === 'strict' ? ')' : ']', items: [{ kind: 'scalar', tex: '-\\infty' }, bound] }
      : { kind: 'ordered', open: ops[0] === 'strict' ? '(' : '[', close: ')', items: [bound, { kind: 'scalar', tex: '\\infty' }] };
  }
  if (terms.length !== 3 || at !== 1) return undefined;
  return {
    kind: 'ordered',
    open: ops[0] === 'strict' ? '(' : '[',
    close: ops[1] === 'strict' ? ')' : ']',
    items: [
      { kind: 'scalar', tex: terms[0]! },
      { kind: 'scalar', tex: terms[2]! },
    ],
  };
}
