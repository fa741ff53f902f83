// Crash-safe JSONL output. Lines are appended and fdatasync'ed before append() resolves
// (lines queued while a sync runs are written and synced together), so a crash loses at
// most the lines not yet acknowledged. Reopening a file cuts a torn last line, checks every
// other line, moves bad ones aside and reports the ids of the good ones, so a run resumes
// where it stopped and redoes what was lost.
import { open, stat, truncate, type FileHandle } from 'node:fs/promises';
import { writeFileAtomic } from './atomic.js';
import { InputError } from '../errors.js';
import { fileLines } from './lines.js';

export interface Reopened {
  /** ids of the good lines in the file */
  ids: Set<string>;
  /** bytes of a torn last line that were cut off */
  cut: number;
  /** bad lines moved to `rejectedFile(file)` (their problems are to be done again) */
  rejected: number;
}

/** What is wrong with a parsed line of this file, or undefined when it is good. */
export type LineCheck = (line: Record<string, unknown>) => string | undefined;

/** Where reopen() moves a file's bad lines: trees.jsonl -> trees.rejected.jsonl. */
export function rejectedFile(file: string): string {
  return file.replace(/(\.jsonl)?$/, '.rejected.jsonl');
}

/**
 * Cuts a torn last line (no final newline) and checks every other line: JSON, an object
 * with a string id, and `check`. Bad lines are appended (and synced) to rejectedFile(file),
 * then the file is rewritten without them (temp file + rename): nothing is lost, and the
 * bad lines' problems are searched again. A file with no good line at all is refused:
 * it is not one this tool wrote.
 */
export async function reopen(file: string, check: LineCheck = () => undefined): Promise<Reopened> {
  const ids = new Set<string>();
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    return { ids, cut: 0, rejected: 0 };
  }
  const keep = await endOfLastLine(file, size);
  if (keep < size) await truncate(file, keep);
  const bad: { n: number; bytes: Buffer; why: string }[] = [];
  for await (const { bytes, n } of fileLines(file, keep)) {
    const why = lineProblem(bytes, check, ids);
    if (why !== undefined) bad.push({ n, bytes: Buffer.from(bytes), why });
  }
  if (bad.length > 0 && ids.size === 0) {
    throw new InputError(`${file}:${bad[0]!.n}: not a line this tool wrote (${bad[0]!.why}), nor is any other; move the file away or pass --overwrite`);
  }
  if (bad.length > 0) await moveAside(file, keep, bad);
  return { ids, cut: size - keep, rejected: bad.length };
}

function lineProblem(bytes: Buffer, check: LineCheck, ids: Set<string>): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const o = value as Record<string, unknown>;
  if (typeof o['id'] !== 'string') return 'no string "id"';
  const why = check(o);
  if (why === undefined) ids.add(o['id']);
  return why;
}

async function moveAside(file: string, keep: number, bad: { n: number; bytes: Buffer }[]): Promise<void> {
  const rejected = await open(rejectedFile(file), 'a');
  try {
    await rejected.write(Buffer.concat(bad.flatMap((b) => [b.bytes, Buffer.from('\n')])));
    await rejected.sync();
  } finally {
    await rejected.close();
  }
  const badLines = new Set(bad.map((b) => b.n));
  await writeFileAtomic(file, async (out) => {
    for await (const { bytes, n } of fileLines(file, keep)) {
      if (!badLines.has(n)) await out.write(Buffer.concat([bytes, Buffer.from('\n')]));
    }
  });
}

/** Offset just past the last newline (0 when there is none). */
async function endOfLastLine(file: string, size: number): Promise<number> {
  const fh = await open(file, 'r');
  try {
    const chunk = Buffer.alloc(64 * 1024);
    for (let end = size; end > 0; ) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await fh.read(chunk, 0, end - start, start);
      const at = chunk.subarray(0, bytesRead).lastIndexOf(10);
      if (at >= 0) return start + at + 1;
      end = start;
    }
    return 0;
  } finally {
    await fh.close();
  }
}

export class JsonlAppender {
  private queue: { line: string; done: () => void; failed: (e: unknown) => void }[] = [];
  private flushing: Promise<void> | undefined;

  private constructor(
    private readonly fh: FileHandle,
    readonly file: string,
  ) {}

  static async open(file: string): Promise<JsonlAppender> {
    return new JsonlAppender(await open(file, 'a'), file);
  }

  /** Resolves once the line is on disk. */
  append(value: unknown): Promise<void> {
    const line = JSON.stringify(value) + '\n';
    return new Promise((done, failed) => {
      this.queue.push({ line, done, failed });
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.queue;
      this.queue = [];
      try {
        await this.fh.write(group.map((g) => g.line).join(''));
        await this.fh.datasync();
        for (const g of group) g.done();
      } catch (e) {
        // name the file: on a full disk several files fail, and this one failed first
        const named = Object.assign(new Error(`${this.file}: ${(e as Error).message}`, { cause: e }), { code: (e as NodeJS.ErrnoException).code });
        for (const g of group) g.failed(named);
      }
    }
    this.flushing = undefined;
  }

  /** Waits for the lines already appended, then closes. */
  async close(): Promise<void> {
    await this.flushing;
    await this.fh.close();
  }
}
