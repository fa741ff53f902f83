// Option tables: each option of a command is declared once (type, default, check, help, and
// whether it changes what a run writes), and everything else is derived from the table: the
// command line (cli/options.ts), the checks, and the settings a resumed run must agree on.
// The flag of option `rolloutsInFlight` is `--rollouts-in-flight`.
import { UsageError } from '../errors.js';

interface Common<V> {
  help: string;
  /**
   * The default, or how to derive it from the other options (a function: then
   * `defaultHelp` says it in the help text). Absent: the option may be left unset.
   */
  default?: V | ((o: Record<string, unknown>) => V);
  defaultHelp?: string;
  /** must be given */
  required?: boolean;
  /**
   * Whether the option changes what the run writes (the trees' content): a resumed run must
   * agree on it. A function says when it does (e.g. sampling options only for real policies).
   */
  content?: boolean | ((o: Record<string, unknown>) => boolean);
  /** not a flag: set by the program (e.g. eval sets the search's answers mode) */
  internal?: boolean;
  /** a check that involves other options: the problem, or undefined */
  check?: (value: V, o: Record<string, unknown>) => string | undefined;
}

export type OptionSpec =
  | ({ type: 'integer' | 'number'; min?: number; max?: number; above?: number } & Common<number>)
  | ({ type: 'boolean' } & Common<boolean>)
  | ({ type: 'string' } & Common<string>)
  | ({ type: 'choice'; choices: readonly string[] } & Common<string>)
  | ({ type: 'strings' } & Common<string[]>)
  /** a JSON object (on the command line: its JSON text) */
  | ({ type: 'record' } & Common<Record<string, unknown>>);

export type OptionTable = Record<string, OptionSpec>;

type ValueOf<S> = S extends { type: 'integer' | 'number' }
  ? number
  : S extends { type: 'boolean' }
    ? boolean
    : S extends { type: 'choice'; choices: readonly (infer C)[] }
      ? C
      : S extends { type: 'strings' }
        ? string[]
        : S extends { type: 'record' }
          ? Record<string, unknown>
          : string;

/** The values of a table's options: those with a default (or required) are always set. */
export type OptionValues<T extends OptionTable> = {
  -readonly [K in keyof T as T[K] extends { default: unknown } | { required: true } ? K : never]: ValueOf<T[K]>;
} & {
  -readonly [K in keyof T as T[K] extends { default: unknown } | { required: true } ? never : K]?: ValueOf<T[K]>;
};

/** rolloutsInFlight -> rollouts-in-flight */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The table's values from `given`, defaults filled in (derived ones after the plain ones). */
export function withDefaults<T extends OptionTable>(table: T, given: Partial<OptionValues<T>> | Record<string, unknown>): OptionValues<T> {
  const o: Record<string, unknown> = {};
  for (const key of Object.keys(table)) {
    const value = (given as Record<string, unknown>)[key];
    const d = table[key]!.default;
    if (value !== undefined) o[key] = value;
    else if (d !== undefined && typeof d !== 'function') o[key] = d;
  }
  for (const key of Object.keys(table)) {
    const d = table[key]!.default;
    if (o[key] === undefined && typeof d === 'function') o[key] = d(o);
  }
  return o as OptionValues<T>;
}

/**
 * Throws a UsageError for the first option whose value the table refuses, naming it as
 * `name` does (default: its flag; a config file names its field).
 */
export function checkOptions<T extends OptionTable>(table: T, o: OptionValues<T>, name = (key: string, spec: OptionSpec) => (spec.internal ? key : `--${flagName(key)}`)): void {
  const all = o as Record<string, unknown>;
  for (const [key, spec] of Object.entries(table)) {
    const value = all[key];
    const flag = name(key, spec);
    if (value === undefined) {
      if (spec.required) throw new UsageError(`${flag} must be given`);
      continue;
    }
    const problem = typeProblem(spec, value) ?? spec.check?.(value as never, all);
    if (problem !== undefined) throw new UsageError(`${flag} ${problem} (got ${typeof value === 'number' ? value : JSON.stringify(value)})`);
  }
}

function typeProblem(spec: OptionSpec, v: unknown): string | undefined {
  switch (spec.type) {
    case 'integer':
    case 'number': {
      const integer = spec.type === 'integer';
      const ok = typeof v === 'number' && (integer ? Number.isSafeInteger(v) : Number.isFinite(v));
      const bounds = [
        spec.min !== undefined ? `>= ${spec.min}` : '',
        spec.above !== undefined ? `> ${spec.above}` : '',
        spec.max !== undefined ? `<= ${spec.max}` : '',
      ].filter((b) => b !== '');
      const what = `must be ${integer ? 'an integer' : 'a number'}${bounds.length > 0 ? ` ${bounds.join(' and ')}` : ''}`;
      if (!ok) return what;
      if (spec.min !== undefined && v < spec.min) return what;
      if (spec.above !== undefined && v <= spec.above) return what;
      if (spec.max !== undefined && v > spec.max) return what;
      return undefined;
    }
    case 'boolean':
      return typeof v === 'boolean' ? undefined : 'must be true or false';
    case 'string':
      return typeof v === 'string' ? undefined : 'must be a string';
    case 'strings':
      return Array.isArray(v) && v.every((s) => typeof s === 'string') ? undefined : 'must be a list of strings';
    case 'choice':
      return spec.choices.includes(v as string) ? undefined : `must be one of ${spec.choices.join(', ')}`;
    case 'record':
      return typeof v === 'object' && v !== null && !Array.isArray(v) ? undefined : 'must be a JSON object';
  }
}

/** The options that decide what the run writes, by name: what a resumed run must agree on. */
export function contentOf<T extends OptionTable>(table: T, o: OptionValues<T>): Record<string, unknown> {
  const all = o as Record<string, unknown>;
  const content: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    const applies = typeof spec.content === 'function' ? spec.content(all) : spec.content === true;
    if (applies && all[key] !== undefined) content[key] = all[key];
  }
  return content;
}
