// A Hugging Face tokenizer.json, loaded offline by Hugging Face's own Rust tokenizers (the
// `tokenizers` npm package, N-API). The rStar step tokens are added tokens in a real export:
// text is encoded without the model's BOS/EOS decorations and decoded keeping every token,
// so `<end_of_step>` and friends survive a round trip.
import { existsSync, readFileSync } from 'node:fs';
import { Tokenizer as HfTokenizer } from 'tokenizers';
import { InputError } from '../../errors.js';

/** Each piece's token ids, or, for text refused from its length alone, a lower bound of its count. */
export type Counted = { pieces: number[][]; tokens: number } | { atLeast: number };

/** Refuses a missing tokenizer.json, naming it (a user's error, not a bug). */
export function checkTokenizerFile(path: string): void {
  if (!existsSync(path)) throw new InputError(`tokenizer: ${path} does not exist (a model dir needs its tokenizer.json)`);
}

export class Tokenizer {
  private constructor(
    private readonly hf: HfTokenizer,
    readonly path: string,
    /** the most characters of text one token stands for (charsPerToken); Infinity: no bound */
    readonly charsPerToken: number,
  ) {}

  static load(path: string): Tokenizer {
    checkTokenizerFile(path);
    let hf: HfTokenizer;
    try {
      hf = HfTokenizer.fromFile(path);
    } catch (e) {
      throw new Error(`tokenizer: cannot load ${path}: ${(e as Error).message}`, { cause: e });
    }
    return new Tokenizer(hf, path, charsPerToken(JSON.parse(readFileSync(path, 'utf8')) as TokenizerJson));
  }

  /**
   * The pieces' ids (as encodeBatch) and their total, unless they certainly hold more than
   * `limit` tokens: text over limit × charsPerToken characters is refused without tokenizing
   * it (a 5 MB question took 10 s and 850 MB to tokenize), so a call tokenizes at most that.
   */
  async encodeWithin(pieces: readonly string[], limit: number): Promise<Counted> {
    let chars = 0;
    for (const p of pieces) chars += p.length;
    if (chars > limit * this.charsPerToken) return { atLeast: Math.ceil(chars / this.charsPerToken) };
    const ids = await this.encodeBatch(pieces);
    return { pieces: ids, tokens: ids.reduce((n, x) => n + x.length, 0) };
  }

  async encode(text: string): Promise<number[]> {
    const encoding = await this.hf.encode(text, null, { addSpecialTokens: false });
    return encoding.getIds();
  }

  async encodeBatch(texts: readonly string[]): Promise<number[][]> {
    if (texts.length === 0) return [];
    const encodings = await this.hf.encodeBatch([...texts], { addSpecialTokens: false });
    return encodings.map((e) => e.getIds());
  }

  decode(ids: readonly number[]): Promise<string> {
    return this.hf.decode([...ids], false);
  }

  /** The id of a token that is one entry of the vocabulary (an added token, say), else undefined. */
  tokenId(token: string): number | undefined {
    return this.hf.tokenToId(token) ?? undefined;
  }

  vocabSize(): number {
    return this.hf.getVocabSize(true);
  }
}

export interface TokenizerJson {
  normalizer?: { type: string; normalizers?: unknown[] } | null;
  pre_tokenizer?: { type: string; pretokenizers?: unknown[]; behavior?: string } | null;
  model: { type: string; vocab: Record<string, number> | [string, number][]; fuse_unk?: boolean; byte_fallback?: boolean; max_input_chars_per_word?: number };
  added_tokens?: { content: string; lstrip?: boolean; rstrip?: boolean }[];
}

/**
 * The most UTF-16 code units of input one token can stand for: the longest vocabulary entry
 * or added token (a byte-level entry's length is its byte count, at least what it decodes
 * to), times 4 behind a Unicode normalizer (NFC composes at most 4 code points into one).
 * Infinity wherever one token may stand for text of any length, or text may vanish: unknown
 * runs fused into one token, whole unknown words, tokens that strip neighbouring spaces, and
 * normalizers or pre-tokenizers that drop text (Strip, Replace, whitespace splitting...).
 */
export function charsPerToken(json: TokenizerJson): number {
  const m = json.model;
  const entries = Array.isArray(m.vocab) ? m.vocab.map(([piece]) => piece) : Object.keys(m.vocab);
  let longest = 0;
  for (const e of entries) longest = Math.max(longest, e.length);
  for (const a of json.added_tokens ?? []) {
    if (a.lstrip || a.rstrip) return Infinity;
    longest = Math.max(longest, a.content.length);
  }
  if (m.type === 'WordLevel' || (m.type === 'Unigram' && !m.byte_fallback) || (m.fuse_unk && !m.byte_fallback)) return Infinity;
  if (m.type === 'WordPiece') longest = Math.max(longest, m.max_input_chars_per_word ?? 100);
  const normalizer = (n: unknown): number => {
    if (n === null || n === undefined) return 1;
    const { type, normalizers } = n as { type: string; normalizers?: unknown[] };
    if (type === 'Sequence') return (normalizers ?? []).reduce<number>((f, x) => f * normalizer(x), 1);
    return ['NFC', 'NFKC'].includes(type) ? 4 : ['NFD', 'NFKD', 'Lowercase', 'Prepend'].includes(type) ? 1 : Infinity;
  };
  const keepsText = (p: unknown): boolean => {
    if (p === null || p === undefined) return true;
    const { type, pretokenizers, behavior } = p as { type: string; pretokenizers?: unknown[]; behavior?: string };
    if (type === 'Sequence') return (pretokenizers ?? []).every(keepsText);
    if (type === 'Split' || type === 'Punctuation') return behavior !== 'Removed';
    return ['ByteLevel', 'Metaspace', 'Digits', 'UnicodeScripts'].includes(type);
  };
  return keepsText(json.pre_tokenizer) ? longest * normalizer(json.normalizer) : Infinity;
}
