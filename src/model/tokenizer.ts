// A Hugging Face tokenizer.json, loaded offline by Hugging Face's own Rust tokenizers (the
// `tokenizers` npm package, N-API). The rStar step tokens are added tokens in a real export:
// text is encoded without the model's BOS/EOS decorations and decoded keeping every token,
// so `<end_of_step>` and friends survive a round trip.
import { existsSync } from 'node:fs';
import { Tokenizer as HfTokenizer } from 'tokenizers';

export class Tokenizer {
  private constructor(
    private readonly hf: HfTokenizer,
    readonly path: string,
  ) {}

  static load(path: string): Tokenizer {
    if (!existsSync(path)) throw new Error(`tokenizer: ${path} does not exist (a model dir needs its tokenizer.json)`);
    let hf: HfTokenizer;
    try {
      hf = HfTokenizer.fromFile(path);
    } catch (e) {
      throw new Error(`tokenizer: cannot load ${path}: ${(e as Error).message}`, { cause: e });
    }
    return new Tokenizer(hf, path);
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
