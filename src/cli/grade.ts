// `rstar grade`: mathematical equivalence of answers, for one pair or a JSONL file of pairs.
import { once } from 'node:events';
import { open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import type { Argv } from 'yargs';
import { InputError, parseObjectLine } from '../io/problems.js';
import { MathGrader, mathGraderDefaults, type GradeResult, type PredGold } from '../grade/math-grader.js';
import { progressBar } from '../run/progress.js';
import { UsageError } from '../errors.js';

export function gradeOptions(y: Argv) {
  return y
    .positional('pred', { type: 'string', describe: 'the predicted answer (with GOLD, instead of --file)' })
    .positional('gold', { type: 'string', describe: 'the gold answer' })
    .option('file', { type: 'string', describe: 'JSONL of {"pred", "gold", ...} objects, one a line; each is written back with "rstar_grade": {"equal"[, "error"]} added' })
    .option('out', { type: 'string', describe: 'write the graded lines here (default: stdout); replaced whole when done' })
    .option('threads', { type: 'number', default: mathGraderDefaults.threads, describe: 'worker threads' })
    .option('time-limit-ms', { type: 'number', default: mathGraderDefaults.timeLimitMs, describe: 'longest one comparison may run (ms); then it is an error' })
    .option('progress', { type: 'boolean', default: true, describe: 'show a progress bar (large files, stderr a terminal)' });
}

type GradeArgs = Awaited<ReturnType<ReturnType<typeof gradeOptions>['parseAsync']>>;

/** Refuses contradictory arguments (a RangeError: main prints its message). */
function checkArgs(a: GradeArgs): void {
  const pair = a.pred !== undefined || a.gold !== undefined;
  if (pair && a.file !== undefined) throw new UsageError('give either PRED GOLD or --file, not both');
  if (!pair && a.file === undefined) throw new UsageError('give PRED GOLD, or --file CASES.jsonl');
  if (pair && (a.pred === undefined || a.gold === undefined)) throw new UsageError('PRED needs a GOLD to compare with');
  if (a.out !== undefined && a.file === undefined) throw new UsageError('--out goes with --file');
}

/** Lines graded at once: one progress step, and what is held in flight. */
const batchSize = 256;
/** Files with fewer lines finish before a progress bar would tell anything. */
const progressMinLines = 500;

export async function grade(args: GradeArgs): Promise<void> {
  checkArgs(args);
  const grader = new MathGrader({ threads: args.threads, timeLimitMs: args['time-limit-ms'] });
  try {
    if (args.file === undefined) {
      const pair = { pred: String(args.pred), gold: String(args.gold) };
      const [result] = await grader.compare([pair]);
      process.stdout.write(JSON.stringify({ ...pair, ...result }) + '\n');
      return;
    }
    await gradeFile(grader, args.file, args.out, args.progress);
  } finally {
    await grader.close();
  }
}

/**
 * The field `--file` writes each verdict to, `{"equal": bool, "error"?: string}`: a name of
 * its own, so that input fields (an `equal` or `error` of the data set) are kept as they are.
 */
export const verdictField = 'rstar_grade';

interface Case {
  fields: Record<string, unknown>;
  pair: PredGold;
}

/** Every line of the file, checked before anything is graded: a bad line stops the run with FILE:LINE. */
async function readCases(file: string): Promise<Case[]> {
  const text = await readFile(file, 'utf8');
  const cases: Case[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    cases.push(parseCase(line, `${file}:${i + 1}`));
  });
  return cases;
}

function parseCase(line: string, where: string): Case {
  const fields = parseObjectLine(line, where);
  const answer = (name: 'pred' | 'gold'): string => {
    const v = fields[name];
    if (typeof v === 'string') return v;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    if (v === undefined) throw new InputError(`${where}: missing field "${name}"`);
    throw new InputError(`${where}: field "${name}" must be a string or a number`);
  };
  // the verdict is written under its own name; an input that has it already was graded
  // before, and replacing its verdict silently could pass off one run's grades as another's
  if (Object.hasOwn(fields, verdictField)) throw new InputError(`${where}: field "${verdictField}" is where the verdict goes, and the line has one already (graded before?): remove it to grade the line again`);
  return { fields, pair: { pred: answer('pred'), gold: answer('gold') } };
}

async function gradeFile(grader: MathGrader, file: string, out: string | undefined, progress: boolean): Promise<void> {
  const cases = await readCases(file);
  const started = performance.now();
  const sink = await Sink.open(out);
  const bar = progress && process.stderr.isTTY && cases.length >= progressMinLines ? progressBar('grade |{bar}| {value}/{total} pairs | {equal} equal | {duration_formatted} elapsed, ETA {left}', cases.length, { equal: 0 }) : undefined;
  let equal = 0;
  let errors = 0;
  try {
    for (let from = 0; from < cases.length; from += batchSize) {
      const batch = cases.slice(from, from + batchSize);
      const results = await grader.compare(batch.map((c) => c.pair));
      await sink.write(batch.map((c, k) => JSON.stringify(graded(c.fields, results[k]!)) + '\n').join(''));
      equal += results.filter((r) => r.equal).length;
      errors += results.filter((r) => r.error !== undefined).length;
      bar?.update(from + batch.length, { equal });
    }
    await sink.commit();
  } catch (e) {
    await sink.abandon();
    throw e;
  } finally {
    bar?.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  console.error(
    `rstar: graded ${cases.length} pairs: ${equal} equal, ${cases.length - equal - errors} not, ${errors} errors ` +
      `(${grader.stats.timeouts} timed out) in ${seconds.toFixed(2)} s${out === undefined ? '' : ` -> ${out}`}`,
  );
}

/** The input line's object, every field as it was, with the verdict added under verdictField. */
function graded(fields: Record<string, unknown>, result: GradeResult): Record<string, unknown> {
  const verdict = result.error === undefined ? { equal: result.equal } : { equal: result.equal, error: result.error };
  return { ...fields, [verdictField]: verdict };
}

/**
 * Where graded lines go: stdout, or a temp file beside --out that is synced and renamed over
 * it at the end, so --out holds the old content or the whole new one, never half.
 */
class Sink {
  private constructor(
    private readonly out: string | undefined,
    private readonly tmp: string | undefined,
    private readonly fh: FileHandle | undefined,
  ) {}

  static async open(out: string | undefined): Promise<Sink> {
    if (out === undefined) return new Sink(undefined, undefined, undefined);
    const tmp = `${out}.tmp-${process.pid}`;
    return new Sink(out, tmp, await open(tmp, 'w'));
  }

  async write(text: string): Promise<void> {
    if (this.fh !== undefined) await this.fh.write(text);
    else if (!process.stdout.write(text)) await once(process.stdout, 'drain');
  }

  async commit(): Promise<void> {
    if (this.fh === undefined) return;
    await this.fh.sync();
    await this.fh.close();
    await rename(this.tmp!, this.out!);
  }

  async abandon(): Promise<void> {
    if (this.fh === undefined) return;
    await this.fh.close().catch(() => {});
    await rm(this.tmp!, { force: true });
  }
}

