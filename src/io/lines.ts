// The lines of a file as bytes, streamed: the one line splitter of the JSONL readers. Bytes,
// not text, so that a reader can refuse bytes that are not UTF-8 (naming the line) instead of
// seeing them silently become U+FFFD, and can move a bad line elsewhere unchanged.
import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { InputError } from '../errors.js';

export interface Line {
  /** the line without its newline (nor a CR before it) */
  bytes: Buffer;
  /** 1-based */
  n: number;
}

/** The lines of bytes [0, end) of a file (end: its size); a last line without newline is one too. */
export async function* fileLines(file: string, end?: number): AsyncGenerator<Line> {
  if (end === 0) return;
  let rest: Buffer = Buffer.alloc(0);
  let n = 0;
  for await (const chunk of createReadStream(file, end === undefined ? {} : { end: end - 1 })) {
    let data = rest.length > 0 ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
    let at: number;
    while ((at = data.indexOf(10)) >= 0) {
      yield { bytes: trimCr(data.subarray(0, at)), n: ++n };
      data = data.subarray(at + 1);
    }
    rest = Buffer.from(data); // a copy: the stream's chunk is not ours to keep
  }
  if (rest.length > 0) yield { bytes: trimCr(rest), n: ++n };
}

function trimCr(b: Buffer): Buffer {
  return b.length > 0 && b[b.length - 1] === 13 ? b.subarray(0, b.length - 1) : b;
}

/** A line's text; bytes that are not UTF-8 are an InputError naming `where`. A BOM on line 1 is dropped. */
export function lineText(line: Line, where: string): string {
  const text = line.bytes.toString('utf8');
  if (!isUtf8(line.bytes)) {
    // where the first invalid sequence became U+FFFD in the lossy decode
    throw new InputError(`${where}: not UTF-8 (an invalid byte sequence at character ${text.indexOf('\ufffd') + 1}); convert the file to UTF-8`);
  }
  return line.n === 1 && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
