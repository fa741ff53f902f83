// The errors a user can see that are not bugs. The CLI prints these plainly (no stack) and
// exits 2; anything else is a bug, printed with its stack, exit 1.
/** Bad input: a file, a line, a field; the message names them. */
export class InputError extends Error {}

/**
 * A bad option or argument; the message names it. A RangeError, so that code calling the
 * library directly can keep catching what it always could.
 */
export class UsageError extends RangeError {}

/** A run stopped by SIGINT/SIGTERM, its work saved: rerunning resumes it. The CLI exits 128 + the signal's number. */
export class Interrupted extends Error {
  constructor(
    message: string,
    readonly signal: NodeJS.Signals,
  ) {
    super(message);
  }
}
