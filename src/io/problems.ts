// Problems JSONL: one {"id", "problem", "answer", ...} object a line, as in the evaluation
// sets. Read as a stream, so a 100k-problem file costs no memory; a bad line stops the
// stream with an error naming the file, the line and the field.
import { InputError } from '../errors.js';
import { fileLines, lineText } from './lines.js';

export interface Problem {
  id: string;
  problem: string;
  /** the gold answer, in the source's notation */
  answer: string;
  /** a difficulty level, when the source gives one (results are broken down by it) */
  level?: number | string;
}

export { InputError };

/** One JSONL line that must hold a JSON object; `where` (FILE:LINE) starts the error message. */
export function parseObjectLine(line: string, where: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    throw new InputError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InputError(`${where}: expected a JSON object`);
  return value as Record<string, unknown>;
}

export function parseProblem(line: string, where: string): Problem {
  const o = parseObjectLine(line, where);
  const text = (field: string, allowNumber: boolean): string => {
    const v = o[field];
    if (typeof v === 'string' && v.length > 0) return v;
    if (allowNumber && typeof v === 'number' && Number.isFinite(v)) return String(v);
    if (v === undefined) throw new InputError(`${where}: missing field "${field}"`);
    throw new InputError(`${where}: field "${field}" must be a non-empty string${allowNumber ? ' or a number' : ''}`);
  };
  const level = o['level'];
  return {
    id: text('id', true),
    problem: text('problem', false),
    answer: text('answer', true),
    ...(typeof level === 'number' || (typeof level === 'string' && level !== '') ? { level } : {}),
  };
}

/** The non-blank lines of a JSONL file, streamed, each with its FILE:LINE for errors. */
export async function* jsonlLines(file: string): AsyncGenerator<{ line: string; where: string }> {
  for await (const l of fileLines(file)) {
    const where = `${file}:${l.n}`;
    const line = lineText(l, where);
    if (line.trim() !== '') yield { line, where };
  }
}

/** Streams the problems of a JSONL file; blank lines are skipped, ids must be unique. */
export async function* readProblems(file: string): AsyncGenerator<Problem> {
  const seen = new Set<string>();
  for await (const { line, where } of jsonlLines(file)) {
    const p = parseProblem(line, where);
    if (seen.has(p.id)) throw new InputError(`${where}: duplicate id "${p.id}"`);
    seen.add(p.id);
    yield p;
  }
}

/** Number of non-blank lines: the progress bar's total, counted without parsing. */
export async function countProblems(file: string): Promise<number> {
  let count = 0;
  for await (const _ of jsonlLines(file)) count++;
  return count;
}
