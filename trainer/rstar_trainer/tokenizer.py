"""Character-level tokenizer, plus a Hugging Face tokenizer.json that encodes identically.

Why characters: the tiny models must copy digits exactly; one token per char makes that
easy, and the vocab (108 ids) keeps the embedding tables small enough to commit.
"""
import json

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIAL_TOKENS = [PAD, UNK, BOS, EOS]  # ids 0..3
# The rStar step markers, each ONE token so the engine can stop on them cheaply.
STEP_TOKENS = [
    "<end_of_step>", "<end_of_code>", "<end_of_answer>", "<code>",
    "<output>", "<end_of_output>", "<answer>",
]
CHARS = ["\n", "\t"] + [chr(c) for c in range(32, 127)]

VOCAB = SPECIAL_TOKENS + STEP_TOKENS + CHARS
TOKEN_TO_ID = {t: i for i, t in enumerate(VOCAB)}
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
ADDED_TOKENS = SPECIAL_TOKENS + STEP_TOKENS  # matched as whole strings before chars
VOCAB_SIZE = len(VOCAB)


def encode(text):
    """Added tokens first (leftmost, then longest match, as HF's AddedVocabulary does),
    else one id per character; characters outside the vocab become <unk>."""
    ids, i, n = [], 0, len(text)
    while i < n:
        if text[i] == "<":
            best = max((t for t in ADDED_TOKENS if text.startswith(t, i)), key=len, default=None)
            if best is not None:
                ids.append(TOKEN_TO_ID[best])
                i += len(best)
                continue
        ids.append(TOKEN_TO_ID.get(text[i], UNK_ID))
        i += 1
    return ids


def decode(ids):
    """Concatenate token strings (special and step tokens are kept)."""
    return "".join(VOCAB[i] for i in ids)


def tokenizer_json():
    """A tokenizer.json for Hugging Face tokenizers (Rust; npm `tokenizers` 0.23).

    BPE with the char vocab and no merges = one token per char, unknown chars -> <unk>
    one each (fuse_unk false). No normalizer/pre-tokenizer/post-processor, so nothing is
    stripped and no BOS is added. Decoder "Fuse" joins tokens with no spaces. Every
    added token is also in the model vocab with the same id. Step tokens are not
    "special", so even decode(ids, skipSpecialTokens=true) keeps them.
    """
    added = [
        {"id": TOKEN_TO_ID[t], "content": t, "single_word": False, "lstrip": False,
         "rstrip": False, "normalized": False, "special": t in SPECIAL_TOKENS}
        for t in ADDED_TOKENS
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": {"type": "Fuse"},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": UNK,
            "continuing_subword_prefix": None, "end_of_word_suffix": None,
            "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": dict(TOKEN_TO_ID), "merges": [],
        },
    }


def save_tokenizer_json(path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(), f, ensure_ascii=False, indent=1)
        f.write("\n")
