"""A small decoder-only transformer (Llama/Qwen2-like) and its PPM (value model) variant.

Block: RMSNorm -> grouped-query attention with RoPE -> residual, RMSNorm -> SwiGLU -> residual.
Written so torch.onnx.export (tracing) keeps every shape dynamic:
- the causal mask comes from cumsum over ones_like(...), not from Python ints;
- GQA uses unsqueeze/expand/flatten (repeat_interleave bakes a fixed shape into ONNX);
- masking is additive -1e9, not -inf (a fully masked row would give NaN).
"""
import json
import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from . import tokenizer


@dataclass
class RstarConfig:
    # Field names are Hugging Face's, so config.json reads like a Llama/Qwen2 config.
    vocab_size: int = tokenizer.VOCAB_SIZE
    hidden_size: int = 32
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 8
    intermediate_size: int = 64
    max_position_embeddings: int = 4096
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6
    bos_token_id: int = tokenizer.BOS_ID
    eos_token_id: int = tokenizer.EOS_ID
    pad_token_id: int = tokenizer.PAD_ID

    def to_dict(self, ppm_output=None):
        d = {"model_type": "rstar-tiny", "architectures": ["RstarForCausalLM"],
             "torch_dtype": "float32", **asdict(self)}
        if ppm_output is not None:  # "hidden" | "score" | "reviewer": how the PPM scores
            d["rstar_ppm"] = {"output": ppm_output}
        return d

    def save(self, path, ppm_output=None):
        with open(path, "w") as f:
            json.dump(self.to_dict(ppm_output), f, indent=2)
            f.write("\n")

    @classmethod
    def from_dict(cls, d):
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def load(cls, path):
        with open(path) as f:
            return cls.from_dict(json.load(f))


class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, c: RstarConfig):
        super().__init__()
        assert c.num_attention_heads % c.num_key_value_heads == 0
        self.nh, self.kvh, self.hd = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        self.q_proj = nn.Linear(c.hidden_size, self.nh * self.hd, bias=False)
        self.k_proj = nn.Linear(c.hidden_size, self.kvh * self.hd, bias=False)
        self.v_proj = nn.Linear(c.hidden_size, self.kvh * self.hd, bias=False)
        self.o_proj = nn.Linear(self.nh * self.hd, c.hidden_size, bias=False)

    def forward(self, x, cos, sin, mask, past, new_only=False):
        B, T = x.shape[0], x.shape[1]
        q = self.q_proj(x).reshape(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).reshape(B, T, self.kvh, self.hd).transpose(1, 2)
        v = self.v_proj(x).reshape(B, T, self.kvh, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin  # keys are cached AFTER rotary
        if new_only:
            return self.split_attention(q, k, v, mask, past)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        present = (k, v)
        rep = self.nh // self.kvh  # query head h reads kv head h // rep (HF repeat_kv order)
        k = k.unsqueeze(2).expand(-1, -1, rep, -1, -1).flatten(1, 2)
        v = v.unsqueeze(2).expand(-1, -1, rep, -1, -1).flatten(1, 2)
        att = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.hd) + mask
        att = torch.softmax(att, dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(B, T, self.nh * self.hd)
        return self.o_proj(y), present

    def split_attention(self, q, k, v, mask, past):
        """The same attention without concatenating the cache or expanding its heads: the
        scores against past and new keys are computed apart and softmaxed together, and only
        the new keys and values are returned. Exported, a decode step then reads the cache
        (which may be a preallocated buffer longer than the row, masked) and copies none of it."""
        B, T = q.shape[0], q.shape[2]
        rep = self.nh // self.kvh
        # query head g * rep + r reads KV head g: group the query heads by their KV head
        qg = q.reshape(B, self.kvh, rep * T, self.hd)
        scale = 1.0 / math.sqrt(self.hd)
        s_new = torch.matmul(qg, k.transpose(2, 3)) * scale  # [B, kvh, rep*T, T]
        scores = s_new if past is None else torch.cat([torch.matmul(qg, past[0].transpose(2, 3)) * scale, s_new], -1)
        L = scores.shape[-1]
        att = torch.softmax(scores.reshape(B, self.nh, T, L) + mask, dim=-1).reshape(B, self.kvh, rep * T, L)
        if past is None:
            y = torch.matmul(att, v)
        else:
            P = past[0].shape[2]
            y = torch.matmul(att[..., :P], past[1]) + torch.matmul(att[..., P:], v)
        y = y.reshape(B, self.nh, T, self.hd).transpose(1, 2).reshape(B, T, self.nh * self.hd)
        return self.o_proj(y), (k, v)


class MLP(nn.Module):  # SwiGLU
    def __init__(self, c: RstarConfig):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, c: RstarConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = MLP(c)

    def forward(self, x, cos, sin, mask, past, new_only=False):
        a, present = self.self_attn(self.input_layernorm(x), cos, sin, mask, past, new_only)
        x = x + a
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x, present


class RstarModel(nn.Module):
    """The backbone: embeddings -> blocks -> final norm."""

    def __init__(self, c: RstarConfig):
        super().__init__()
        self.config = c
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList([Block(c) for _ in range(c.num_hidden_layers)])
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        inv_freq = 1.0 / (c.rope_theta ** (torch.arange(0, c.head_dim, 2).float() / c.head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, input_ids, attention_mask, position_ids, past=None, new_only=False):
        """input_ids, position_ids: int64 [B, T]; attention_mask: int64 [B, P+T] (1 attend,
        0 masked, anywhere); past: None or per layer (key, value) [B, kv_heads, P, head_dim].
        Returns (hidden [B, T, H] after the final norm, presents [B, kv_heads, P+T, head_dim];
        with new_only, only the new positions' keys and values [B, kv_heads, T, head_dim])."""
        x = self.embed_tokens(input_ids)
        # RoPE from the explicit positions: cos/sin [B, 1, T, head_dim].
        freqs = position_ids.to(self.inv_freq.dtype).unsqueeze(-1) * self.inv_freq
        emb = torch.cat((freqs, freqs), dim=-1).unsqueeze(1)
        cos, sin = emb.cos(), emb.sin()
        # Causal by cache index: new token i (absolute index P+i) sees keys j <= P+i. In
        # indices counted from the end that is k_rel[j] <= q_rel[i], with no Python ints.
        k_idx = torch.cumsum(torch.ones_like(attention_mask[0]), 0)  # 1..P+T
        q_idx = torch.cumsum(torch.ones_like(input_ids[0]), 0)  # 1..T
        k_rel, q_rel = k_idx - k_idx[-1], q_idx - q_idx[-1]
        allowed = (k_rel.unsqueeze(0) <= q_rel.unsqueeze(1)).float()  # [T, P+T]
        allowed = allowed * attention_mask.float()[:, None, None, :]  # [B, 1, T, P+T]
        mask = ((1.0 - allowed) * -1e9).to(x.dtype)
        presents = []
        for i, layer in enumerate(self.layers):
            x, present = layer(x, cos, sin, mask, None if past is None else past[i], new_only)
            presents.append(present)
        return self.norm(x), presents


class RstarForCausalLM(nn.Module):
    """The policy: backbone + untied lm_head."""

    def __init__(self, c: RstarConfig):
        super().__init__()
        self.config = c
        self.model = RstarModel(c)
        self.lm_head = nn.Linear(c.hidden_size, c.vocab_size, bias=False)

    def forward(self, input_ids, attention_mask, position_ids, past=None, new_only=False):
        """Returns (logits [B, T, V], last hidden [B, T, H], presents)."""
        h, presents = self.model(input_ids, attention_mask, position_ids, past, new_only)
        return self.lm_head(h), h, presents


class RstarPPM(nn.Module):
    """The process preference model: its OWN backbone copy (sharing one let a checkpoint
    load overwrite the policy) + value head. Raw score r per position; inference uses
    tanh(r / 5), training uses a pairwise loss on r (tanh saturates)."""

    def __init__(self, c: RstarConfig):
        super().__init__()
        self.config = c
        self.model = RstarModel(c)
        self.value_head = nn.Linear(c.hidden_size, 1)

    def forward(self, input_ids, attention_mask, position_ids, past=None, new_only=False):
        """Returns (raw score r [B, T], last hidden [B, T, H], presents)."""
        h, presents = self.model(input_ids, attention_mask, position_ids, past, new_only)
        return self.value_head(h).squeeze(-1), h, presents
