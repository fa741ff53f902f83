// The command line of an option table (util/options.ts): one flag per option, its help and
// default from the table; the parsed values come back through the table too, so that the
// defaults it derives and its checks apply to every command the same way.
import type { Argv, Options } from 'yargs';
import { UsageError } from '../errors.js';
import { checkOptions, flagName, withDefaults, type OptionTable, type OptionValues } from '../util/options.js';

export interface Flags<T extends OptionTable> {
  /** this command's defaults, over the table's */
  defaults?: Partial<OptionValues<T>>;
  /** this command's help, over the table's */
  help?: { [K in keyof T]?: string };
  /** no defaults in the parsed arguments (they are shown in the help only): the command tells given flags from defaults */
  unset?: boolean;
}

/** Adds a flag per option of `table`. */
export function addOptions<A, T extends OptionTable>(y: Argv<A>, table: T, { defaults = {}, help = {}, unset = false }: Flags<T> = {}): Argv<A> {
  for (const [key, spec] of Object.entries(table)) {
    if (spec.internal) continue;
    const d = (defaults as Record<string, unknown>)[key] ?? (typeof spec.default === 'function' ? undefined : spec.default);
    const o: Options = { describe: help[key] ?? spec.help };
    if (spec.type === 'integer' || spec.type === 'number') o.type = 'number';
    else if (spec.type === 'boolean') o.type = 'boolean';
    else if (spec.type === 'strings') Object.assign(o, { type: 'string', array: true });
    else if (spec.type === 'record') Object.assign(o, { type: 'string', coerce: parseRecord(flagName(key)) });
    else if (spec.type === 'choice') o.choices = [...spec.choices];
    else o.type = 'string';
    if (d !== undefined && !unset) o.default = d;
    if (spec.defaultHelp !== undefined || (unset && d !== undefined)) o.defaultDescription = spec.defaultHelp ?? JSON.stringify(d);
    if (spec.required && !unset) o.demandOption = true; // unset: the command checks it after merging its other sources
    y = y.option(flagName(key), o);
  }
  return y;
}

/** The table's options from parsed arguments, defaults derived and every value checked. */
export function optionValues<T extends OptionTable>(table: T, args: Record<string, unknown>): OptionValues<T> {
  const o = withDefaults(table, args);
  checkOptions(table, o);
  return o;
}

/** A record option's JSON text, parsed; a clear error naming the flag otherwise. */
function parseRecord(flag: string) {
  return (text: unknown): unknown => {
    if (typeof text !== 'string') return text;
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new UsageError(`--${flag} must be a JSON object (${(e as Error).message})`);
    }
  };
}
