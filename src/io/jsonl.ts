// Crash-safe JSONL output. Lines are appended and fdatasync'ed before append() resolves
// (lines queued while a sync runs are written and synced together), so a crash loses at
// most the lines not yet acknowledged. Reopening a file cuts a torn last line and reports
// the ids already written, so a run can resume where it stopped.
import { createReadStream } from 'node:fs';
import { open, stat, truncate, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { InputError } from './problems.js';

export interface Reopened {
  /** ids of the complete lines already in the file */
  ids: Set<string>;
  /** bytes of a torn last line that were cut off */
  cut: number;
}

const idPrefix = /^\{"id":("(?:[^"\\]|\\.)*")/;

/** Cuts a torn last line (no final newline) and collects the ids of the complete lines. */
export async function reopen(file: string): Promise<Reopened> {
  const ids = new Set<string>();
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    return { ids, cut: 0 };
  }
  const keep = await endOfLastLine(file, size);
  if (keep < size) await truncate(file, keep);
  if (keep === 0) return { ids, cut: size };
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8', end: keep - 1 }), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    const m = idPrefix.exec(line);
    if (!m) throw new InputError(`${file}:${n}: not a line this tool wrote (it must start with {"id":...}); move the file away or pass --overwrite`);
    ids.add(JSON.parse(m[1]!) as string);
  }
  return { ids, cut: size - keep };
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

  private constructor(private readonly fh: FileHandle) {}

  static async open(file: string): Promise<JsonlAppender> {
    return new JsonlAppender(await open(file, 'a'));
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
        for (const g of group) g.failed(e);
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
