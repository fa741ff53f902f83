// Text-level clean-up of final answers before they are compared: what a human reader ignores
// (\boxed, math delimiters, \left/\right, spacing commands, \text wrappers, dollar signs,
// degree marks) goes, and notations that mean the same are made to read the same
// (\dfrac -> \frac, \le -> \leq, \frac12 -> \frac{1}{2}). Nothing here decides equality; the
// grader compares what comes out.

/**
 * LaTeX commands the clean-up knows by name. Used to undo two kinds of damage seen in the
 * evaluation sets: whitespace stripped out of the answer (rStar's `answer_rstar` has
 * `\leqx` for `\leq x`, `\cost` for `\cos t`) and JSON escapes that ate a backslash
 * (`\f` + `rac{1}{2}`, a tab + `ext{...}`).
 */
const knownCommands = new Set(
  (
    'frac dfrac tfrac cfrac sqrt cdot times div pm mp leq geq le ge neq ne lt gt leqslant geqslant approx equiv sim simeq cong ' +
    'in notin ni subset subseteq supset supseteq cup cap setminus emptyset varnothing infty ' +
    'alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi omicron pi varpi rho varrho ' +
    'sigma varsigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega ' +
    'sin cos tan cot sec csc arcsin arccos arctan arccot sinh cosh tanh coth sech csch log ln lg exp max min sup inf lim limsup liminf ' +
    'gcd lcm det dim ker deg arg mod bmod pmod lfloor rfloor lceil rceil left right middle big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr ' +
    'text textbf textit textrm textsf texttt mathrm mathbf mathit mathbb mathcal mathsf mathscr mathfrak boldsymbol operatorname mbox hbox ' +
    'boxed fbox begin end circ degree prime cdots ldots dots vdots ddots quad qquad overline underline bar vec hat widehat tilde widetilde dot ddot ' +
    'angle measuredangle triangle square perp parallel mid nmid vert lvert rvert Vert lVert rVert langle rangle ' +
    'to rightarrow Rightarrow leftarrow Leftarrow leftrightarrow Leftrightarrow iff implies impliedby mapsto forall exists nexists neg lnot land lor wedge vee ' +
    'oplus otimes odot partial nabla int iint iiint oint sum prod coprod binom dbinom tbinom choose over displaystyle textstyle limits nolimits ' +
    'not star ast bullet dagger ell hbar Re Im aleph wp hline cline newline underbrace overbrace stackrel overset underset phantom ' +
    'Rightarrow longrightarrow Longrightarrow uparrow downarrow because therefore colon lbrace rbrace lbrack rbrack ' +
    // what the compute engine writes when it renders LaTeX
    'exponentialE imaginaryI differentialD error blacksquare'
  ).split(' '),
);

/** The longest known command that `name` starts with (and is longer than), if any. */
function knownPrefix(name: string): string | undefined {
  for (let n = name.length - 1; n >= 2; n--) {
    const head = name.slice(0, n);
    if (knownCommands.has(head)) return head;
  }
  return undefined;
}

/**
 * Undoes JSON-escape damage: `"\frac"` written in JSON without doubling the backslash reads
 * as a form feed + `rac`, `"\text"` as a tab + `ext`. A control character followed by
 * letters that, with the escape's letter in front, name a known command gets its
 * backslash back.
 */
export function repairEscapes(s: string): string {
  // Not \n: a newline followed by letters is usually a newline (`\\\ne^{t}` is a matrix row).
  const escapes: Record<string, string> = { '\t': 't', '\f': 'f', '\b': 'b', '\r': 'r', '\v': 'v' };
  return s.replace(/[\t\f\b\r\v]([a-zA-Z]+)/g, (m, word: string) => {
    const letter = escapes[m[0]!]!;
    const name = letter + word;
    if (knownCommands.has(name) || knownPrefix(name) !== undefined) return `\\${name}`;
    return m;
  });
}

/**
 * Splits commands glued to the letters after them (`\leqx` -> `\leq x`, `\sint` -> `\sin t`):
 * an unknown command name that starts with a known one is the known one followed by text.
 */
export function splitGluedCommands(s: string): string {
  return s.replace(/\\([a-zA-Z]+)/g, (m, name: string) => {
    if (knownCommands.has(name)) return m;
    const head = knownPrefix(name);
    return head === undefined ? m : `\\${head} ${name.slice(head.length)}`;
  });
}

/** Index just past the `}` that closes the `{` at `open`, or -1 when it is never closed. */
export function closingBrace(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const ch = s[i];
    if (ch === '\\') {
      i++; // an escaped brace (\{ \}) does not count
      continue;
    }
    if (ch === '{') depth++;
    else if (ch === '}' && --depth === 0) return i + 1;
  }
  return -1;
}

/** The argument of the last `\name{...}` in s, or undefined when there is none (or it is unclosed). */
export function lastCommandArgument(s: string, name: string): string | undefined {
  const at = s.lastIndexOf(`\\${name}`);
  if (at < 0) return undefined;
  let open = at + name.length + 1;
  while (s[open] === ' ') open++;
  if (s[open] !== '{') return undefined;
  const end = closingBrace(s, open);
  return end < 0 ? undefined : s.slice(open + 1, end - 1);
}

/** Replaces every `\name{arg}` (name one of `names`) by its argument, nested ones too. */
function unwrapCommands(s: string, names: readonly string[]): string {
  const pattern = new RegExp(`\\\\(?:${names.join('|')})\\s*\\{`, 'g');
  let out = '';
  let from = 0;
  for (let m = pattern.exec(s); m !== null; m = pattern.exec(s)) {
    const open = m.index + m[0].length - 1;
    const end = closingBrace(s, open);
    if (end < 0) break;
    out += s.slice(from, m.index) + unwrapCommands(s.slice(open + 1, end - 1), names);
    from = end;
    pattern.lastIndex = end;
  }
  return out + s.slice(from);
}

/** A Greek letter command (a variable's name, as `x` is). */
export const greekLetter =
  /\\(?:alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|vartheta|iota|kappa|lambda|mu|nu|xi|omicron|pi|varpi|rho|varrho|sigma|varsigma|tau|upsilon|phi|varphi|chi|psi|omega|Gamma|Delta|Theta|Lambda|Xi|Pi|Sigma|Upsilon|Phi|Psi|Omega)(?![a-zA-Z])/g;

/** Wrappers whose content is what counts: text, fonts, boxes. */
const wrappers = ['text', 'textbf', 'textit', 'textrm', 'textsf', 'texttt', 'textnormal', 'mbox', 'hbox', 'mathrm', 'mathbf', 'mathit', 'mathsf', 'boldsymbol', 'fbox'];

/** Strips `$...$`, `\(...\)`, `\[...\]` and a TeX group `{...}` around the whole answer, repeatedly. */
function stripDelimiters(s: string): string {
  for (;;) {
    const t = s.trim();
    const inner =
      /^\$\$([\s\S]*)\$\$$/.exec(t)?.[1] ??
      /^\$([\s\S]*)\$$/.exec(t)?.[1] ??
      /^\\\(([\s\S]*)\\\)$/.exec(t)?.[1] ??
      /^\\\[([\s\S]*)\\\]$/.exec(t)?.[1] ??
      (t.startsWith('{') && closingBrace(t, 0) === t.length ? t.slice(1, -1) : undefined);
    if (inner === undefined) return t;
    s = inner;
  }
}

/**
 * Where a solution text states its final answer: "The (final) answer is", "The answers
 * are", "Answer:", "**Answer:**", "Final Answer: The final answer is" (the last of them
 * counts), a "**Final Answer**" or "# Final Answer" heading, GSM8K's "####" (not a
 * "#### Step 2" heading). Plain "answer" without "is" or a colon is not one: solutions say
 * "we check the answer" on the way.
 */
const answerMarks = /answers?(?:\*\*)?\s*(?:is\s*:?|are\s*:?|:|=)|\*\*final\s+answer\*\*|^#+\s*final\s+answer\b|^####(?!\s*[a-zA-Z])/gim;
const mathDelimiters: [open: string, close: string][] = [['$$', '$$'], ['$', '$'], ['\\(', '\\)'], ['\\[', '\\]']];

/**
 * The first statement of a text: up to the first sentence end (a period before a space or
 * the end) or line break after some content, with math spans (`$...$`, `\(...\)`,
 * `\[...\]`) taken whole, so `$3.5$. I hope it is correct.` gives `$3.5$`.
 */
function firstStatement(text: string): string {
  const s = text.replace(/^[\s:*]+/, '');
  let content = false;
  for (let i = 0; i < s.length; i++) {
    const math = mathDelimiters.find(([open]) => s.startsWith(open, i));
    if (math) {
      const end = s.indexOf(math[1], i + math[0].length);
      if (end < 0) return s;
      i = end + math[1].length - 1;
      continue;
    }
    if (s[i] === '\\') i++; // an escaped character (\$, \.) is text
    else if (s[i] === '\n' && content) return s.slice(0, i);
    else if (s[i] === '.' && (i + 1 === s.length || /\s/.test(s[i + 1]!))) return s.slice(0, i);
    content ||= /\S/.test(s[i]!);
  }
  return s;
}

/** Where each answer mark outside all braces (not in a `\text{...}`, say) ends, in order. */
function topLevelMarkEnds(s: string): number[] {
  const ends: number[] = [];
  let depth = 0;
  let i = 0;
  for (const mark of s.matchAll(answerMarks)) {
    for (; i < mark.index!; i++) {
      if (s[i] === '\\') i++;
      else if (s[i] === '{') depth++;
      else if (s[i] === '}') depth = Math.max(0, depth - 1);
    }
    if (depth === 0) ends.push(mark.index! + mark[0].length);
  }
  return ends;
}

/**
 * The final answer of a text: the content of its last `\boxed{}` (or `\fbox{}`), if any;
 * then what follows its last answer mark (answerMarks) outside braces, to the end of that
 * statement, without bold marks; else all of it (a bare answer). Marks are read with or
 * without spaces ("Theansweris", as in rStar's whitespace-stripped copies).
 */
export function extractAnswer(text: string): string {
  const s = lastCommandArgument(text, 'boxed') ?? lastCommandArgument(text, 'fbox') ?? text;
  for (const end of topLevelMarkEnds(s).reverse()) {
    const answer = firstStatement(s.slice(end))
      .replace(/^\*\*|\*\*$/g, '')
      .trim();
    if (answer !== '') return answer;
  }
  return s;
}

/**
 * Functions of angles: trig functions, cis, and powers of e with an i in the exponent. A
 * degree mark in an answer that has one is an angle (`\sin 30^\circ` is 1/2).
 */
const angleFunction = /\\(?:sin|cos|tan|cot|sec|csc)(?![a-zA-Z])|(?<![a-zA-Z])cis(?![a-zA-Z])|(?<![a-zA-Z\\])e\s*\^\s*\{[^{}]*(?<![a-zA-Z\\])i(?![a-zA-Z])/;
/**
 * A number, letter or Greek letter with a degree mark: 30^\circ, 30^{\circ}, 30°, x^\circ,
 * \theta\degree. A superscript takes one digit, as in TeX: `\sin^280^\circ` is sin^2 of 80.
 */
const degreeAngle = new RegExp(
  String.raw`((?<![\d.^])\d+(?:\.\d+)?|(?<=\^\d)\d+(?:\.\d+)?|${greekLetter.source}|[a-zA-Z])\s*(?:\^\s*(?:\{\s*\\circ\s*\}|\\circ(?![a-zA-Z]))|°|\\degree(?![a-zA-Z]))`,
  'g',
);

/**
 * The answer as the grader reads it: its final answer (extractAnswer); then delimiters,
 * sizing and spacing commands, font and text wrappers, dollar signs and degree marks go;
 * equivalent spellings are unified; whitespace is collapsed.
 */
export function cleanAnswer(raw: string): string {
  let s = extractAnswer(splitGluedCommands(repairEscapes(raw)));
  s = stripDelimiters(s);
  // degrees in an answer with a function of angles are in radians (the engine's unit);
  // elsewhere a degree mark is dropped (30^\circ equals 30)
  if (angleFunction.test(s)) s = s.replace(degreeAngle, '(\\frac{$1\\pi}{180})');
  s = s
    // digit groups: 10\,000 and 10\ 000 (the compute engine writes the first) are 10000;
    // so are 1{,}000 and 1,\!000 (MATH's way, spaced or not: only digit groups are written
    // so); a {,} or ,\! elsewhere is a comma
    .replace(/(\d)\\[,!: ](?=\d{3}(?!\d))/g, '$1')
    .replace(/(\d)\s*(?:\{,\}|,\s*\\!)\s*(?=\d{3}(?!\d))/g, '$1')
    .replace(/\{,\}|,\s*\\!/g, ',')
    // a backslash before a digit is debris (rStar's copies turned `\$ 3040` into `\3040`)
    .replace(/(?<!\\)\\(?=\d)/g, '')
    // `\\` (a matrix row break) is kept whole; a single backslash + space/punctuation is spacing
    .replace(/\\\\|\\[,;:! ]|\\q?quad(?![a-zA-Z])|~/g, (m) => (m === '\\\\' ? m : ' '))
    .replace(/\\(?:left|right|middle)\s*\\?\./g, '')
    .replace(/\\(?:left|right|middle|[bB]ig{1,2}[lr]?)(?![a-zA-Z])/g, '')
    .replace(/\\(?:displaystyle|textstyle|limits|nolimits)(?![a-zA-Z])/g, '')
    .replace(/\\[dtc]frac(?![a-zA-Z])/g, '\\frac')
    .replace(/\\[dt]binom(?![a-zA-Z])/g, '\\binom')
    // \frac12, \frac1{x}, \frac{x}2, \sqrt2: the short forms of TeX
    .replace(/\\frac\s*(\d)\s*(\d)/g, '\\frac{$1}{$2}')
    .replace(/\\frac\s*(\d)\s*\{/g, '\\frac{$1}{')
    .replace(/\\frac\s*(\{[^{}]*\})\s*(\d)/g, '\\frac$1{$2}')
    .replace(/\\sqrt\s*(\d)/g, '\\sqrt{$1}')
    .replace(/\\leqslant|\\leq?(?![a-zA-Z])|≤|<=/g, '\\leq ')
    .replace(/\\geqslant|\\geq?(?![a-zA-Z])|≥|>=/g, '\\geq ')
    .replace(/\\neq?(?![a-zA-Z])|≠/g, '\\neq ')
    .replace(/\\lt(?![a-zA-Z])/g, '<')
    .replace(/\\gt(?![a-zA-Z])/g, '>')
    .replace(/\\(?:mid|vert|lvert|rvert)(?![a-zA-Z])/g, '|')
    .replace(/\\lbrace(?![a-zA-Z])/g, '\\{')
    .replace(/\\rbrace(?![a-zA-Z])/g, '\\}')
    .replace(/\\lbrack(?![a-zA-Z])/g, '[')
    .replace(/\\rbrack(?![a-zA-Z])/g, ']')
    .replace(/\\%/g, '%')
    .replace(/\\\$|\$/g, '')
    // degrees: 30^\circ, 30^{\circ}, 30°, 30\degree (a brace is taken only with its pair:
    // e^{i 30^\circ} keeps the exponent's)
    .replace(/\^\s*(?:\{\s*\\circ\s*\}|\\circ(?![a-zA-Z]))|°|\\degree(?![a-zA-Z])|\\circ(?![a-zA-Z])/g, '')
    .replace(/(^|[(\[,])\s*\+\s*\\infty/g, '$1\\infty');
  s = unwrapCommands(s, wrappers);
  s = s.replace(/\s+/g, ' ').trim();
  return s.replace(/\s*[.。]$/, '').trim();
}

/**
 * The cleaned answer with all whitespace removed and single-character super/subscripts
 * unbraced (`x^{2}` -> `x^2`): two answers with the same compact form are the same answer.
 */
export function compactAnswer(clean: string): string {
  return clean.replace(/\s+/g, '').replace(/([_^])\{([a-zA-Z0-9])\}/g, '$1$2');
}

/**
 * The option letter of a multiple-choice answer: `B`, `(B)`, `B)`, and (unless `whole`, which
 * demands the letter alone, as for the gold answer) `(B) 12` and `B. 12` all give `B`.
 */
export function choiceLetter(clean: string, whole: boolean): string | undefined {
  const alone = /^\(?([A-Z])\)?$/.exec(clean);
  if (alone || whole) return alone?.[1];
  return (/^\(([A-Z])\)/.exec(clean) ?? /^([A-Z])[.:)]\s/.exec(clean))?.[1];
}

/** Words that are units of measure when they follow a number: "5 cm", "12 dollars", "90 square units". */
const unitWords = new Set(
  (
    'mm cm dm m km in inch inches ft foot feet yd yard yards mi mile miles meter meters metre metres centimeter centimeters centimetre centimetres ' +
    'millimeter millimeters kilometer kilometers kilometre kilometres mg g kg gram grams kilogram kilograms lb lbs pound pounds oz ounce ounces ton tons ' +
    'ml l liter liters litre litres gallon gallons quart quarts pint pints cup cups ' +
    's sec secs second seconds min mins minute minutes h hr hrs hour hours day days week weeks month months year years ' +
    'dollar dollars cent cents euro euros usd ' +
    'unit units square cubic sq squared cubed degree degrees deg rad radian radians percent mph kph kmh ' +
    'people persons person students student items item pieces piece times ways'
  ).split(' '),
);

/** Words that are functions, not text, when written without a backslash. */
const functionWords = new Set('sin cos tan cot sec csc cis log ln exp max min gcd lcm mod det arcsin arccos arctan sinh cosh tanh'.split(' '));

/**
 * Strips units after a constant: "5 cm", "12 dollars", "90 square units", "4 m/s",
 * "6 cm^2". Only when what is left holds no variable, so "3 n" and "10 - 4 m" keep theirs.
 */
export function stripUnits(tex: string): string {
  // Words must be apart (space or /): a pattern that could split a run of letters in many
  // ways backtracks exponentially on long prose.
  const m = /^(.*?[\d}).%])(\s*)([a-zA-Z]+\.?(?:\^\{?\d\}?)?(?:(?:\s+|\s*\/\s*)[a-zA-Z]+\.?(?:\^\{?\d\}?)?)*)$/.exec(tex);
  if (!m) return tex;
  const [, value, gap, unit] = m as unknown as [string, string, string, string];
  const words = unit.toLowerCase().match(/[a-z]+/g) ?? [];
  if (!words.every((w) => unitWords.has(w))) return tex;
  // A single letter right after a number (2m, 3s) is more likely a variable than a unit.
  if (gap === '' && words.length === 1 && words[0]!.length === 1) return tex;
  return hasVariable(value) ? tex : value.trim();
}

/** Latin letters outside command names (and outside \text, which is gone by now): variables. */
export function hasVariable(tex: string): boolean {
  return /[a-zA-Z]/.test(tex.replace(/\\[a-zA-Z]+/g, ''));
}

/**
 * Prose rather than mathematics: a word of three or more letters outside commands that is
 * not a function name ("Yes", "all real numbers", "odd"). Prose is compared as text only;
 * a computer algebra system would read "no" and "on" as the same product of two variables.
 */
export function isProse(tex: string): boolean {
  const plain = tex.replace(/\\[a-zA-Z]+/g, ' ');
  if (/^\s*no\s*$/i.test(plain)) return true; // the one two-letter answer word
  const words = plain.match(/[a-zA-Z]{3,}/g) ?? [];
  return words.some((w) => !functionWords.has(w.toLowerCase()));
}
