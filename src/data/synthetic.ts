// A seeded synthetic domain of English multi-step arithmetic word problems (GSM8K-like),
// small and regular enough for a tiny character-level policy trained from scratch, with a
// reference solution in the rStar step format (src/format/step.ts).
//
// A problem of level L is a chain of L operations on one quantity of a named person: a
// start template (two numbers from the first sentence: "Tom buys 4 boxes of 6 pencils")
// and L - 1 chain templates, each one sentence with one new number ("He gives 5 pencils to
// Mia"); the question asks for the last quantity. A quantity has a unit (items, bags,
// hours, money, a price, a cost) and each template maps one unit to another, so chains stay
// meaningful (pencils -> bags of pencils -> dollars from selling the bags -> ...). The
// solution has one code step per operation, a print step and the answer step.
//
// Numbers: operands are small integers (mostly 2..99; a "pays with $X" note can be larger),
// every intermediate value is an integer in [2, 99,999], divisions are exact (`//`) and
// percentages are taken of numbers they divide (so `x * 25 // 100` is exact).
//
// Held-out splits:
// - by seed: each problem is drawn from its own generator, keyed by (seed, split, level,
//   index); different seeds give different problems.
// - by template: the templates marked `split: 'test'` (7 of 33, about 20%: see
//   `testOnlyTemplates`) never appear in split 'train', and every problem of split 'test'
//   uses at least one of them. Each test-only template has the code shape (`kind`) of some
//   training template, with a new sentence and situation, so test accuracy measures
//   whether the policy maps unseen wording to known operations.
import { renderTrajectory, type TrajectoryStep } from '../format/step.js';
import { hashKey, rng } from '../util/random.js';
import { UsageError } from '../errors.js';

export type Split = 'train' | 'test';
export const minLevel = 1;
export const maxLevel = 6;

export interface SyntheticProblem {
  /** syn-L{level}-{seed}-{index} (split train) or syn-L{level}-{seed}-t{index} (split test) */
  id: string;
  problem: string;
  /** the gold answer: an integer, as text */
  answer: string;
  /** the number of operations (code steps before the print step) */
  level: number;
  /** the template ids, one per operation, in order */
  template: string[];
  /** the reference solution in the rStar step format: the steps, the output block and the answer */
  solution: string;
}

export interface GenerateOptions {
  /** levels to generate (1..6); the count is spread evenly over them, in this order */
  levels: readonly number[];
  /** problems in all */
  count: number;
  seed: number;
  /** default 'train' */
  split?: Split;
}

/** The shape of an operation's code; held-out templates reuse the shapes of training templates. */
export type OpKind = 'add' | 'sub' | 'mul' | 'div' | 'pct-off' | 'pct-of' | 'rsub';

/** What a quantity counts: items (a plural noun), bags of items, hours, dollars the person has, a price, a cost to pay. */
export type Unit = 'items' | 'bags' | 'hours' | 'money' | 'price' | 'cost';

export interface TemplateInfo {
  id: string;
  theme: string;
  kind: OpKind;
  /** null: a start template (the first operation, on two numbers of the first sentence) */
  from: Unit | null;
  /** undefined: only as the last operation (the question changes the subject) */
  to: Unit | undefined;
  /** 'test': only in split test */
  split: 'any' | 'test';
}

/** Supervised fine-tuning pair for the trainer. */
export interface SftExample {
  query: string;
  response: string;
}

/**
 * The trainer's pair for a record. The policy's prompt is `{problem}\n\n` followed by the
 * steps (src/format/prompt.ts defaultPromptTemplate), so `query + "\n\n" + response` is
 * exactly the text the policy sees and continues: the training text.
 */
export function toSft(record: SyntheticProblem): SftExample {
  return { query: record.problem, response: record.solution };
}

// ---------------------------------------------------------------------------------------

interface Person {
  name: string;
  he: string;
  him: string;
  his: string;
}

const people: Person[] = [
  ...['Tom', 'Leo', 'Sam', 'Ben', 'Max', 'Jack', 'Omar', 'Ravi', 'Hugo', 'Ivan', 'Noah', 'Eli'].map((name) => ({ name, he: 'he', him: 'him', his: 'his' })),
  ...['Mia', 'Ana', 'Sara', 'Lily', 'Emma', 'Zoe', 'Nina', 'Ava', 'Rosa', 'Yuki', 'Ella', 'Ruth'].map((name) => ({ name, he: 'she', him: 'her', his: 'her' })),
];
const itemNouns = ['pencils', 'stickers', 'apples', 'marbles', 'cookies', 'cards', 'shells', 'stamps', 'eggs', 'crayons', 'beads', 'buttons', 'candies', 'balloons', 'oranges', 'muffins'];
const shopNouns = ['notebooks', 'pens', 'comics', 'plants', 'tickets', 'candles', 'puzzles', 'kites', 'mugs', 'socks'];
const spendOn = ['lunch', 'a book', 'a toy', 'a ticket', 'paint', 'a hat', 'snacks', 'a gift', 'a game', 'flowers'];
const jobs = ['washing cars', 'walking dogs', 'mowing lawns', 'selling lemonade', 'babysitting', 'raking leaves'];
const products = ['jacket', 'bike', 'lamp', 'chair', 'watch', 'backpack', 'helmet', 'radio', 'scooter', 'tent'];
const percents = [10, 20, 25, 30, 40, 50, 60, 75, 80];
const maxValue = 99_999;

type Rand = () => number;

/** base, or base2, base3... when taken; taken from then on. */
export function freshName(used: Set<string>, base: string): string {
  let v = base;
  for (let i = 2; used.has(v); i++) v = `${base}${i}`;
  used.add(v);
  return v;
}

/** The state of one problem being written. */
export class Ctx {
  /** whether the person's name has appeared yet (later sentences use the pronoun) */
  named = false;
  readonly used = new Set<string>();
  readonly person: Person;
  readonly friend: string;
  constructor(
    readonly r: Rand,
    /** the noun of the items being counted */
    public noun: string,
  ) {
    this.person = pick(r, people);
    this.friend = pick(r, people.filter((p) => p.name !== this.person.name)).name;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return pick(this.r, xs);
  }
  get N(): string {
    this.named = true;
    return this.person.name;
  }
  /** The subject at the start of a sentence: the name the first time, then the pronoun. */
  get He(): string {
    if (!this.named) return this.N;
    return cap(this.person.he);
  }
  /** the lower-case pronoun, for comments */
  get he(): string {
    return this.person.he;
  }
  get him(): string {
    return this.person.him;
  }
  get his(): string {
    return this.person.his;
  }
  /**
   * The same problem (people, noun, names used) drawing from another random stream:
   * synthetic-pairs.ts makes wrong operations for a problem without changing its draws.
   */
  reseeded(r: Rand): Ctx {
    const c = Object.create(Ctx.prototype) as Ctx;
    return Object.assign(c, this, { r, used: new Set(this.used) });
  }
  /** A fresh variable name: base, or base2, base3... when taken. */
  fresh(base: string): string {
    return freshName(this.used, base);
  }
}

function pick<T>(r: Rand, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** One operation as written: a sentence, a step, a question for when it is the last. */
export interface Op {
  sentence: string;
  comment: string;
  /** the variable the step assigns (a base name; made unique when written) */
  base: string;
  /** the right-hand side, given the previous variable */
  expr: (prev: string) => string;
  value: number;
  to: Unit | undefined;
  /** the question if this is the last operation, and the answer sentence around the boxed value */
  question: string;
  answer: (boxed: string) => string;
}

interface Template extends TemplateInfo {
  /** The operation on the current value, or undefined when none fits it (then another template is tried). */
  make(c: Ctx, value: number): Op | undefined;
}

/** Divisors of v in [lo, hi] that leave a quotient >= 2. */
function divisors(v: number, lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let k = lo; k <= hi && k * 2 <= v; k++) if (v % k === 0) out.push(k);
  return out;
}

/** Percentages of the list that take v to an integer, and leave at least 2 after taking them off. */
function percentsOf(v: number): number[] {
  return percents.filter((p) => (v * p) % 100 === 0 && (v * p) / 100 >= 2 && v - (v * p) / 100 >= 2);
}

const ok = (v: number): boolean => Number.isInteger(v) && v >= 2 && v <= maxValue;

function op(o: Op): Op | undefined {
  return ok(o.value) ? o : undefined;
}

/** Templates of the first operation: two numbers from the first sentence. */
const startTemplates: Template[] = [
  {
    id: 'boxes', theme: 'groups', kind: 'mul', from: null, to: 'items', split: 'any',
    make(c) {
      const a = c.int(2, 12), b = c.int(2, 30), n = c.noun, N = c.N;
      return op({
        sentence: `${N} buys ${a} boxes of ${b} ${n}.`, comment: `${a} boxes of ${b} ${n}: count the ${n}`,
        base: n, expr: () => `${a} * ${b}`, value: a * b, to: 'items',
        question: `How many ${n} does ${N} have?`, answer: (x) => `${N} has ${x} ${n}.`,
      });
    },
  },
  {
    id: 'has-gets', theme: 'gifts', kind: 'add', from: null, to: 'items', split: 'any',
    make(c) {
      const a = c.int(5, 60), b = c.int(2, 40), n = c.noun, N = c.N, F = c.friend;
      return op({
        sentence: `${N} has ${a} ${n}, and ${F} gives ${c.him} ${b} more.`, comment: `${a} ${n} and ${b} more from ${F}`,
        base: n, expr: () => `${a} + ${b}`, value: a + b, to: 'items',
        question: `How many ${n} does ${N} have now?`, answer: (x) => `${N} has ${x} ${n} now.`,
      });
    },
  },
  {
    id: 'collect-daily', theme: 'rates', kind: 'mul', from: null, to: 'items', split: 'test',
    make(c) {
      const a = c.int(2, 20), b = c.int(2, 14), n = c.noun, N = c.N;
      return op({
        sentence: `${N} collects ${a} ${n} a day for ${b} days.`, comment: `${a} ${n} a day for ${b} days`,
        base: n, expr: () => `${a} * ${b}`, value: a * b, to: 'items',
        question: `How many ${n} does ${N} collect?`, answer: (x) => `${N} collects ${x} ${n}.`,
      });
    },
  },
  {
    id: 'wage', theme: 'rates', kind: 'mul', from: null, to: 'money', split: 'any',
    make(c) {
      const a = c.int(8, 30), b = c.int(2, 12), N = c.N;
      return op({
        sentence: `${N} earns $${a} an hour and works ${b} hours.`, comment: `$${a} an hour for ${b} hours`,
        base: 'money', expr: () => `${a} * ${b}`, value: a * b, to: 'money',
        question: `How many dollars does ${N} earn?`, answer: (x) => `${N} earns ${x} dollars.`,
      });
    },
  },
  {
    id: 'save-weekly', theme: 'saving', kind: 'mul', from: null, to: 'money', split: 'any',
    make(c) {
      const a = c.int(2, 25), b = c.int(2, 20), N = c.N;
      return op({
        sentence: `${N} saves $${a} a week for ${b} weeks.`, comment: `$${a} a week for ${b} weeks`,
        base: 'savings', expr: () => `${a} * ${b}`, value: a * b, to: 'money',
        question: `How many dollars does ${N} save?`, answer: (x) => `${N} saves ${x} dollars.`,
      });
    },
  },
  {
    id: 'has-money', theme: 'gifts', kind: 'add', from: null, to: 'money', split: 'test',
    make(c) {
      const a = c.int(5, 90), b = c.int(2, 50), N = c.N;
      return op({
        sentence: `${N} has $${a} and gets $${b} more for ${c.his} birthday.`, comment: `$${a} and $${b} more`,
        base: 'money', expr: () => `${a} + ${b}`, value: a + b, to: 'money',
        question: `How many dollars does ${N} have now?`, answer: (x) => `${N} has ${x} dollars now.`,
      });
    },
  },
  {
    id: 'sell-start', theme: 'unit prices', kind: 'mul', from: null, to: 'money', split: 'any',
    make(c) {
      const a = c.int(2, 40), b = c.int(2, 15), n = c.noun, N = c.N;
      return op({
        sentence: `${N} sells ${a} ${n} for $${b} each.`, comment: `${a} ${n} at $${b} each`,
        base: 'money', expr: () => `${a} * ${b}`, value: a * b, to: 'money',
        question: `How many dollars does ${N} make?`, answer: (x) => `${N} makes ${x} dollars.`,
      });
    },
  },
  {
    id: 'sale-price', theme: 'discounts', kind: 'pct-off', from: null, to: 'price', split: 'any',
    make(c) {
      const pct = c.pick(percents);
      const step = 100 / gcd(pct, 100);
      const a = step * c.int(Math.ceil(4 / step), Math.floor(99 / step));
      const item = c.pick(products);
      const cut = (a * pct) / 100;
      return op({
        sentence: `A ${item} costs $${a}. It is on sale for ${pct}% off.`, comment: `${pct}% off the $${a} price`,
        base: 'price', expr: () => `${a} - ${a} * ${pct} // 100`, value: a - cut, to: 'price',
        question: 'What is the sale price in dollars?', answer: (x) => `The sale price is ${x} dollars.`,
      });
    },
  },
  {
    id: 'buy-start', theme: 'unit prices', kind: 'mul', from: null, to: 'cost', split: 'any',
    make(c) {
      const a = c.int(2, 12), b = c.int(2, 30), n = c.pick(shopNouns), N = c.N;
      return op({
        sentence: `${N} buys ${a} ${n} at $${b} each.`, comment: `${a} ${n} at $${b} each`,
        base: 'cost', expr: () => `${a} * ${b}`, value: a * b, to: 'cost',
        question: `How many dollars does ${N} spend?`, answer: (x) => `${N} spends ${x} dollars.`,
      });
    },
  },
];

/** Templates of the later operations: the current value and one new number. */
const chainTemplates: Template[] = [
  // items
  {
    id: 'give-away', theme: 'giving away', kind: 'sub', from: 'items', to: 'items', split: 'any',
    make(c, v) {
      if (v < 4) return undefined;
      const k = c.int(2, Math.min(99, v - 2)), n = c.noun, N = c.person.name;
      return op({
        sentence: `${c.He} gives ${k} ${n} to ${c.friend}.`, comment: `${c.he} gives ${k} ${n} to ${c.friend}`,
        base: 'left', expr: (p) => `${p} - ${k}`, value: v - k, to: 'items',
        question: `How many ${n} does ${N} have left?`, answer: (x) => `${N} has ${x} ${n} left.`,
      });
    },
  },
  {
    id: 'lose', theme: 'giving away', kind: 'sub', from: 'items', to: 'items', split: 'test',
    make(c, v) {
      if (v < 4) return undefined;
      const k = c.int(2, Math.min(99, v - 2)), n = c.noun, N = c.person.name;
      return op({
        sentence: `${c.He} loses ${k} of them on the way home.`, comment: `${c.he} loses ${k} ${n}`,
        base: 'left', expr: (p) => `${p} - ${k}`, value: v - k, to: 'items',
        question: `How many ${n} does ${N} have left?`, answer: (x) => `${N} has ${x} ${n} left.`,
      });
    },
  },
  {
    id: 'buy-more', theme: 'buying', kind: 'add', from: 'items', to: 'items', split: 'any',
    make(c, v) {
      const k = c.int(2, 50), n = c.noun, N = c.person.name;
      return op({
        sentence: `${c.He} buys ${k} more ${n}.`, comment: `${c.he} buys ${k} more ${n}`,
        base: 'total', expr: (p) => `${p} + ${k}`, value: v + k, to: 'items',
        question: `How many ${n} does ${N} have now?`, answer: (x) => `${N} has ${x} ${n} now.`,
      });
    },
  },
  {
    id: 'give-pct', theme: 'percentages', kind: 'pct-off', from: 'items', to: 'items', split: 'any',
    make(c, v) {
      const ps = percentsOf(v);
      if (ps.length === 0) return undefined;
      const pct = c.pick(ps), n = c.noun, N = c.person.name;
      return op({
        sentence: `${c.He} gives ${pct}% of them to ${c.friend}.`, comment: `${c.he} gives away ${pct}% of the ${n}`,
        base: 'left', expr: (p) => `${p} - ${p} * ${pct} // 100`, value: v - (v * pct) / 100, to: 'items',
        question: `How many ${n} does ${N} have left?`, answer: (x) => `${N} has ${x} ${n} left.`,
      });
    },
  },
  {
    id: 'pack', theme: 'groups', kind: 'div', from: 'items', to: 'bags', split: 'any',
    make(c, v) {
      const ks = divisors(v, 2, 12);
      if (ks.length === 0) return undefined;
      const k = c.pick(ks), n = c.noun, N = c.person.name;
      return op({
        sentence: `${c.He} packs the ${n} into bags of ${k}.`, comment: `bags of ${k} ${n}: count the bags`,
        base: 'bags', expr: (p) => `${p} // ${k}`, value: v / k, to: 'bags',
        question: `How many bags does ${N} fill?`, answer: (x) => `${N} fills ${x} bags.`,
      });
    },
  },
  {
    id: 'sell-each', theme: 'unit prices', kind: 'mul', from: 'items', to: 'money', split: 'any',
    make(c, v) {
      const k = c.int(2, 9), n = c.noun, N = c.person.name;
      return op({
        sentence: `${c.He} sells all the ${n} for $${k} each.`, comment: `${c.he} sells the ${n} at $${k} each`,
        base: 'money', expr: (p) => `${p} * ${k}`, value: v * k, to: 'money',
        question: `How many dollars does ${N} make?`, answer: (x) => `${N} makes ${x} dollars.`,
      });
    },
  },
  {
    id: 'sort-rate', theme: 'rates', kind: 'div', from: 'items', to: 'hours', split: 'any',
    make(c, v) {
      const ks = divisors(v, 2, 20);
      if (ks.length === 0) return undefined;
      const k = c.pick(ks), n = c.noun, N = c.person.name;
      return op({
        sentence: `${c.He} sorts them at ${k} ${n} an hour.`, comment: `${k} ${n} an hour: count the hours`,
        base: 'hours', expr: (p) => `${p} // ${k}`, value: v / k, to: 'hours',
        question: `How many hours does ${N} spend sorting?`, answer: (x) => `${N} spends ${x} hours sorting.`,
      });
    },
  },
  {
    id: 'share', theme: 'sharing equally', kind: 'div', from: 'items', to: undefined, split: 'any',
    make(c, v) {
      const ks = divisors(v, 2, 9);
      if (ks.length === 0) return undefined;
      const k = c.pick(ks), n = c.noun;
      return op({
        sentence: `${c.He} shares them equally among ${k} friends.`, comment: `share the ${n} among ${k} friends`,
        base: 'each', expr: (p) => `${p} // ${k}`, value: v / k, to: undefined,
        question: `How many ${n} does each friend get?`, answer: (x) => `Each friend gets ${x} ${n}.`,
      });
    },
  },
  // bags
  {
    id: 'give-bags', theme: 'giving away', kind: 'sub', from: 'bags', to: 'bags', split: 'test',
    make(c, v) {
      if (v < 4) return undefined;
      const k = c.int(2, Math.min(99, v - 2)), N = c.person.name;
      return op({
        sentence: `${c.He} gives ${k} of the bags to ${c.friend}.`, comment: `${c.he} gives away ${k} bags`,
        base: 'left', expr: (p) => `${p} - ${k}`, value: v - k, to: 'bags',
        question: `How many bags does ${N} have left?`, answer: (x) => `${N} has ${x} bags left.`,
      });
    },
  },
  {
    id: 'sell-bags', theme: 'unit prices', kind: 'mul', from: 'bags', to: 'money', split: 'any',
    make(c, v) {
      const k = c.int(2, 15), N = c.person.name;
      return op({
        sentence: `${c.He} sells each bag for $${k}.`, comment: `${c.he} sells the bags at $${k} each`,
        base: 'money', expr: (p) => `${p} * ${k}`, value: v * k, to: 'money',
        question: `How many dollars does ${N} make?`, answer: (x) => `${N} makes ${x} dollars.`,
      });
    },
  },
  // hours
  {
    id: 'extra-hours', theme: 'rates', kind: 'add', from: 'hours', to: 'hours', split: 'any',
    make(c, v) {
      const k = c.int(2, 12), N = c.person.name;
      return op({
        sentence: `${c.He} also spends ${k} hours cleaning up.`, comment: `${k} more hours cleaning up`,
        base: 'total', expr: (p) => `${p} + ${k}`, value: v + k, to: 'hours',
        question: `How many hours does ${N} work in all?`, answer: (x) => `${N} works ${x} hours in all.`,
      });
    },
  },
  {
    id: 'paid-hourly', theme: 'rates', kind: 'mul', from: 'hours', to: 'money', split: 'any',
    make(c, v) {
      const k = c.int(5, 25), N = c.person.name;
      return op({
        sentence: `${c.He} is paid $${k} for each hour.`, comment: `$${k} for each hour`,
        base: 'pay', expr: (p) => `${p} * ${k}`, value: v * k, to: 'money',
        question: `How many dollars does ${N} earn?`, answer: (x) => `${N} earns ${x} dollars.`,
      });
    },
  },
  // money
  {
    id: 'spend', theme: 'spending', kind: 'sub', from: 'money', to: 'money', split: 'any',
    make(c, v) {
      if (v < 4) return undefined;
      const k = c.int(2, Math.min(99, v - 2)), thing = c.pick(spendOn), N = c.person.name;
      return op({
        sentence: `${c.He} spends $${k} on ${thing}.`, comment: `${c.he} spends $${k} on ${thing}`,
        base: 'left', expr: (p) => `${p} - ${k}`, value: v - k, to: 'money',
        question: `How many dollars does ${N} have left?`, answer: (x) => `${N} has ${x} dollars left.`,
      });
    },
  },
  {
    id: 'earn', theme: 'saving', kind: 'add', from: 'money', to: 'money', split: 'any',
    make(c, v) {
      const k = c.int(2, 60), job = c.pick(jobs), N = c.person.name;
      return op({
        sentence: `${c.He} earns $${k} more by ${job}.`, comment: `${c.he} earns $${k} more`,
        base: 'total', expr: (p) => `${p} + ${k}`, value: v + k, to: 'money',
        question: `How many dollars does ${N} have now?`, answer: (x) => `${N} has ${x} dollars now.`,
      });
    },
  },
  {
    id: 'spend-pct', theme: 'percentages', kind: 'pct-off', from: 'money', to: 'money', split: 'test',
    make(c, v) {
      const ps = percentsOf(v);
      if (ps.length === 0) return undefined;
      const pct = c.pick(ps), thing = c.pick(spendOn), N = c.person.name;
      return op({
        sentence: `${c.He} spends ${pct}% of the money on ${thing}.`, comment: `${c.he} spends ${pct}% of it`,
        base: 'left', expr: (p) => `${p} - ${p} * ${pct} // 100`, value: v - (v * pct) / 100, to: 'money',
        question: `How many dollars does ${N} have left?`, answer: (x) => `${N} has ${x} dollars left.`,
      });
    },
  },
  {
    id: 'buy-with', theme: 'unit prices', kind: 'div', from: 'money', to: 'items', split: 'any',
    make(c, v) {
      const ks = divisors(v, 2, 25);
      if (ks.length === 0) return undefined;
      const k = c.pick(ks), n = c.pick(shopNouns.filter((s) => s !== c.noun)), N = c.person.name;
      c.noun = n; // the items counted from here on
      return op({
        sentence: `${c.He} spends all of it on ${n} at $${k} each.`, comment: `${n} at $${k} each: count the ${n}`,
        base: n, expr: (p) => `${p} // ${k}`, value: v / k, to: 'items',
        question: `How many ${n} does ${N} buy?`, answer: (x) => `${N} buys ${x} ${n}.`,
      });
    },
  },
  {
    id: 'bank-pct', theme: 'saving', kind: 'pct-of', from: 'money', to: undefined, split: 'any',
    make(c, v) {
      const ps = percentsOf(v);
      if (ps.length === 0) return undefined;
      const pct = c.pick(ps), N = c.person.name;
      return op({
        sentence: `${c.He} puts ${pct}% of the money in the bank.`, comment: `${pct}% of the money`,
        base: 'saved', expr: (p) => `${p} * ${pct} // 100`, value: (v * pct) / 100, to: undefined,
        question: `How many dollars does ${N} put in the bank?`, answer: (x) => `${N} puts ${x} dollars in the bank.`,
      });
    },
  },
  // price
  {
    id: 'price-up', theme: 'discounts', kind: 'add', from: 'price', to: 'price', split: 'any',
    make(c, v) {
      const k = c.int(2, 20);
      return op({
        sentence: `Then the price goes up by $${k}.`, comment: `the price goes up by $${k}`,
        base: 'new_price', expr: (p) => `${p} + ${k}`, value: v + k, to: 'price',
        question: 'What is the new price in dollars?', answer: (x) => `The new price is ${x} dollars.`,
      });
    },
  },
  {
    id: 'price-drop', theme: 'discounts', kind: 'sub', from: 'price', to: 'price', split: 'test',
    make(c, v) {
      if (v < 4) return undefined;
      const k = c.int(2, Math.min(20, v - 2));
      return op({
        sentence: `Then the price drops by $${k}.`, comment: `the price drops by $${k}`,
        base: 'new_price', expr: (p) => `${p} - ${k}`, value: v - k, to: 'price',
        question: 'What is the new price in dollars?', answer: (x) => `The new price is ${x} dollars.`,
      });
    },
  },
  {
    id: 'buy-n', theme: 'unit prices', kind: 'mul', from: 'price', to: 'cost', split: 'any',
    make(c, v) {
      const k = c.int(2, 9), N = c.N;
      return op({
        sentence: `${N} buys ${k} of them.`, comment: `${k} of them at that price`,
        base: 'cost', expr: (p) => `${p} * ${k}`, value: v * k, to: 'cost',
        question: `How many dollars does ${N} pay?`, answer: (x) => `${N} pays ${x} dollars.`,
      });
    },
  },
  // cost
  {
    id: 'shipping', theme: 'buying', kind: 'add', from: 'cost', to: 'cost', split: 'any',
    make(c, v) {
      const k = c.int(2, 15), N = c.person.name;
      return op({
        sentence: `Shipping adds $${k}.`, comment: `add $${k} for shipping`,
        base: 'total', expr: (p) => `${p} + ${k}`, value: v + k, to: 'cost',
        question: `How many dollars does ${N} pay in all?`, answer: (x) => `${N} pays ${x} dollars in all.`,
      });
    },
  },
  {
    id: 'coupon', theme: 'discounts', kind: 'sub', from: 'cost', to: 'cost', split: 'test',
    make(c, v) {
      if (v < 4) return undefined;
      const k = c.int(2, Math.min(30, v - 2)), N = c.person.name;
      return op({
        sentence: `A coupon takes $${k} off the total.`, comment: `take $${k} off with the coupon`,
        base: 'total', expr: (p) => `${p} - ${k}`, value: v - k, to: 'cost',
        question: `How many dollars does ${N} pay in all?`, answer: (x) => `${N} pays ${x} dollars in all.`,
      });
    },
  },
  {
    id: 'pay-with', theme: 'spending', kind: 'rsub', from: 'cost', to: 'money', split: 'any',
    make(c, v) {
      const unit = c.pick([10, 20, 50, 100]);
      let paid = Math.ceil((v + 2) / unit) * unit;
      if (paid - v < 2) paid += unit;
      const N = c.person.name;
      return op({
        sentence: `${c.He} pays with $${paid}.`, comment: `change from $${paid}`,
        base: 'change', expr: (p) => `${paid} - ${p}`, value: paid - v, to: 'money',
        question: `How many dollars of change does ${N} get?`, answer: (x) => `${N} gets ${x} dollars in change.`,
      });
    },
  },
  {
    id: 'split-bill', theme: 'sharing equally', kind: 'div', from: 'cost', to: undefined, split: 'any',
    make(c, v) {
      const ks = divisors(v, 2, 8);
      if (ks.length === 0) return undefined;
      const k = c.pick(ks);
      return op({
        sentence: `The cost is shared equally by ${k} friends.`, comment: `share the cost among ${k} friends`,
        base: 'each', expr: (p) => `${p} // ${k}`, value: v / k, to: undefined,
        question: 'How many dollars does each friend pay?', answer: (x) => `Each friend pays ${x} dollars.`,
      });
    },
  },
];

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

const allTemplates: Template[] = [...startTemplates, ...chainTemplates];

/** The templates, without their generators: for documentation and tests. */
export const templates: readonly TemplateInfo[] = allTemplates.map(({ id, theme, kind, from, to, split }) => ({ id, theme, kind, from, to, split }));

/** Ids of the templates that appear only in split 'test'. */
export const testOnlyTemplates: ReadonlySet<string> = new Set(templates.filter((t) => t.split === 'test').map((t) => t.id));

interface Chain {
  ops: Op[];
  ids: string[];
}

/**
 * An operation on `value` from a template that takes `unit` (a start template when null)
 * and, when `to` is given, leaves that unit; none of the templates `not`. Undefined when
 * none fits. The split's rule holds: split train never uses a test-only template.
 */
export function otherOp(c: Ctx, unit: Unit | null, value: number, split: Split, not: readonly string[], to?: Unit): { op: Op; id: string } | undefined {
  const candidates = allTemplates.filter(
    (t) => t.from === unit && (split === 'test' || t.split !== 'test') && !not.includes(t.id) && (to === undefined || t.to === to),
  );
  const order = candidates.map((t) => ({ t, key: c.r() })).sort((a, b) => a.key - b.key);
  for (const { t } of order) {
    const o = t.make(c, value);
    if (o !== undefined) return { op: o, id: t.id };
  }
  return undefined;
}

/** One chain of `level` operations, or undefined at a dead end (no template fits the value). */
function drawChain(c: Ctx, level: number, split: Split): Chain | undefined {
  const ops: Op[] = [];
  const ids: string[] = [];
  let unit: Unit | null = null;
  let value = 0;
  for (let i = 0; i < level; i++) {
    const last = i === level - 1;
    // each template at most once a chain: more variety, no "goes up by $5. Then goes up by $7"
    const candidates = allTemplates.filter(
      (t) => t.from === unit && (split === 'test' || t.split !== 'test') && (last || t.to !== undefined) && !ids.includes(t.id),
    );
    // a random order of the candidates; the first that fits the value is taken
    const order = candidates.map((t) => ({ t, key: c.r() })).sort((a, b) => a.key - b.key);
    let chosen: { t: Template; o: Op } | undefined;
    for (const { t } of order) {
      const o = t.make(c, value);
      if (o !== undefined) {
        chosen = { t, o };
        break;
      }
    }
    if (chosen === undefined) return undefined;
    ops.push(chosen.o);
    ids.push(chosen.t.id);
    unit = chosen.o.to ?? null;
    value = chosen.o.value;
  }
  if (split === 'test' && !ids.some((id) => testOnlyTemplates.has(id))) return undefined;
  return { ops, ids };
}

/**
 * A solution's steps: one commented code step per operation (variables named by `fresh`
 * from the operations' bases), the print step with its output, the answer step.
 * synthetic-pairs.ts writes its wrong trajectories with it too.
 */
export function solutionSteps(
  ops: readonly Pick<Op, 'comment' | 'base' | 'expr'>[],
  value: string,
  answer: Op['answer'],
  fresh: (base: string) => string,
): TrajectoryStep[] {
  const steps: TrajectoryStep[] = [];
  let prev = '';
  ops.forEach((o, i) => {
    const name = fresh(o.base);
    steps.push({ text: `${i === 0 ? '<code>' : ''}\n# Step ${i + 1}: ${o.comment}\n${name} = ${o.expr(prev)}\n<end_of_step>` });
    prev = name;
  });
  // the output block as the executor writes it: print's text, newline included
  steps.push({ text: `\n# Now print the final answer\nprint(${prev})\n<end_of_code>`, output: `${value}\n` });
  steps.push({ text: `<answer>${answer(`\\boxed{${value}}`)}<end_of_answer>` });
  return steps;
}

/** The problem text and the solution of a chain. */
function write(c: Ctx, chain: Chain): { problem: string; answer: string; solution: string } {
  const { ops } = chain;
  const lastOp = ops.at(-1)!;
  const problem = [...ops.map((o) => o.sentence), lastOp.question].join(' ');
  const answer = String(lastOp.value);
  return { problem, answer, solution: renderTrajectory(solutionSteps(ops, answer, lastOp.answer, (base) => c.fresh(base))) };
}

function problemId(level: number, seed: number, split: Split, index: number): string {
  return `syn-L${level}-${seed}-${split === 'test' ? 't' : ''}${index}`;
}

/** The problem count of each level: count spread evenly, the first levels taking the remainder. */
export function perLevel(levels: readonly number[], count: number): number[] {
  return levels.map((_, i) => Math.floor(count / levels.length) + (i < count % levels.length ? 1 : 0));
}

/**
 * Problems for a seed: deterministic (the same options give the same records on every
 * machine), level by level in the order given, without repeating a problem text. Problem
 * `index` of a level does not depend on the count, so a larger count extends a smaller one.
 */
export function generateProblems(options: GenerateOptions): SyntheticProblem[] {
  return [...drawProblems(options)].map((d) => d.record);
}

/** A problem of generateProblems with the chain it was written from (for synthetic-pairs.ts). */
export interface DrawnProblem {
  record: SyntheticProblem;
  ops: readonly Op[];
  /** the context after writing: its stream is spent, take ctx.reseeded() to draw more */
  ctx: Ctx;
}

export function* drawProblems(options: GenerateOptions): Generator<DrawnProblem> {
  const { levels, count, seed, split = 'train' } = options;
  if (!Number.isInteger(count) || count < 0) throw new UsageError(`count must be an integer >= 0 (got ${count})`);
  if (!Number.isSafeInteger(seed)) throw new UsageError(`seed must be an integer (got ${seed})`);
  if (split !== 'train' && split !== 'test') throw new UsageError(`split must be train or test (got ${String(split)})`);
  if (levels.length === 0) throw new UsageError('give at least one level');
  for (const l of levels) if (!(Number.isInteger(l) && l >= minLevel && l <= maxLevel)) throw new UsageError(`levels must be integers ${minLevel}..${maxLevel} (got ${l})`);
  if (new Set(levels).size !== levels.length) throw new UsageError(`levels repeat (${levels.join(',')})`);
  const seen = new Set<string>();
  const counts = perLevel(levels, count);
  for (const [li, level] of levels.entries()) {
    for (let index = 0; index < counts[li]!; index++) {
      for (let attempt = 0; ; attempt++) {
        if (attempt >= 10_000) throw new Error(`synthetic: no new level-${level} problem after ${attempt} attempts (seed ${seed}, index ${index})`);
        const r = rng(hashKey('rstar-synthetic', seed, split, level, index, attempt));
        const c = new Ctx(r, pick(r, itemNouns));
        const chain = drawChain(c, level, split);
        if (chain === undefined) continue;
        const w = write(c, chain);
        if (seen.has(w.problem)) continue;
        seen.add(w.problem);
        const record = { id: problemId(level, seed, split, index), problem: w.problem, answer: w.answer, level, template: chain.ids, solution: w.solution };
        yield { record, ops: chain.ops, ctx: c };
        break;
      }
    }
  }
}

/** Levels from text: "3", "2,4", "1-6", "1-3,5". */
export function parseLevels(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',').map((s) => s.trim())) {
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    if (!m) throw new UsageError(`levels: "${text}" is not like 3, 2,4 or 1-6`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo > hi) throw new UsageError(`levels: ${part} is an empty range`);
    for (let l = lo; l <= hi; l++) {
      if (l < minLevel || l > maxLevel) throw new UsageError(`levels must be ${minLevel}..${maxLevel} (got ${l})`);
      if (!out.includes(l)) out.push(l);
    }
  }
  return out;
}
