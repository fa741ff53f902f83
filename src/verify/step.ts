// The rStar-Math step format (see DESIGN.md): what the policy writes and the verifier reads.

export const stepEnd = '<end_of_step>';
export const codeEnd = '<end_of_code>';
export const answerEnd = '<end_of_answer>';
/** The policy's stop strings. */
export const stopStrings = [stepEnd, codeEnd, answerEnd] as const;

/** The content of the last balanced \boxed{...} in text, or undefined. */
export function lastBoxed(text: string): string | undefined {
  const at = text.lastIndexOf('\\boxed{');
  if (at < 0) return undefined;
  let depth = 0;
  const start = at + '\\boxed{'.length;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (ch === '{') depth++;
    else if (ch === '}') {
      if (depth === 0) return text.slice(start, i);
      depth--;
    }
  }
  return undefined;
}
