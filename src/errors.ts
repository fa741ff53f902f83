// The errors a user can see that are not bugs: the CLI prints these plainly (no stack).
/** Bad input: a file, a line, a field; the message names them. */
export class InputError extends Error {}
