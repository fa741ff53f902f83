"""The trainer's JSON config: fields, defaults and checks (no torch here, so a bad config
fails fast even where torch is missing). See trainer/README.md, "Trainer contract"."""
import json
import os


class ConfigError(Exception):
    pass


ARCH_REQUIRED = ("hidden_size", "num_hidden_layers", "num_attention_heads",
                 "num_key_value_heads", "head_dim", "intermediate_size")
ARCH_DEFAULTS = {"max_position_embeddings": 4096, "rope_theta": 10000.0, "rms_norm_eps": 1e-6}

# field: (default, type check, description). REQUIRED marks a field with no default.
REQUIRED = object()
FIELDS = {
    "task": (REQUIRED, "sft|ppm"),
    "base": (None, "model dir or null"),
    "architecture": (None, "object (when base is null)"),
    "data": (REQUIRED, "list of JSONL paths"),
    "out": (REQUIRED, "output dir"),
    "eval_data": (None, "list of JSONL paths or null"),
    "epochs": (1, "int >= 1"),
    "batch_tokens": (None, "int: padded tokens per batch"),
    "batch_size": (None, "int: rows per batch"),
    "lr": (1e-3, "number > 0"),
    "min_lr_ratio": (0.1, "number in [0, 1]: cosine floor, as a fraction of lr"),
    "warmup": (0.03, "steps (>= 1) or a fraction of all steps (< 1)"),
    "weight_decay": (0.1, "number >= 0"),
    "grad_clip": (1.0, "number > 0, or 0 for none"),
    "seed": (0, "int"),
    "bf16": (False, "bool"),
    "threads": (2, "int >= 1"),
    "device": ("cpu", "cpu|cuda|auto"),
    "max_length": (None, "int: longer examples are dropped (default min(1024, max_position_embeddings))"),
    "time_limit_s": (None, "number or null: stop training after this long, then export"),
    "checkpoint_every_s": (300, "number: also checkpoint mid-epoch this often (0: every step)"),
    "progress_every_s": (10, "number: stderr progress line interval"),
    "ppm_output": ("hidden", "hidden|score: the PPM's ONNX output kind"),
    "kv_cache": ("in-place", "in-place|concat: the ONNX export's cache outputs (export.py)"),
    "reviewer": (False, "bool, sft only: train on each line's response then query (write the "
                        "question after the trajectory) and export a reviewer PPM"),
}

DEFAULT_BATCH_TOKENS = 8192


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _paths(v, name, base_dir, where):
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not v or not all(isinstance(p, str) and p for p in v):
        raise ConfigError(f"{where}: '{name}' must be a non-empty list of file paths")
    out = []
    for p in v:
        full = os.path.normpath(os.path.join(base_dir, os.path.expanduser(p)))
        if not os.path.isfile(full):
            raise ConfigError(f"{where}: '{name}': no such file: {full}")
        out.append(full)
    return out


def load(path):
    """Reads and checks a config file. Relative paths in it are relative to the config
    file's own directory. Returns a dict with every field (defaults filled in)."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    return check(raw, os.path.dirname(os.path.abspath(path)), path)


def check(raw, base_dir, where="config"):
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(FIELDS)})")
    c = {}
    for k, (default, what) in FIELDS.items():
        if k in raw:
            c[k] = raw[k]
        elif default is REQUIRED:
            raise ConfigError(f"{where}: field '{k}' is required ({what})")
        else:
            c[k] = default

    def bad(k):
        return ConfigError(f"{where}: field '{k}' must be {FIELDS[k][1]}, got {json.dumps(raw.get(k))}")

    if c["task"] not in ("sft", "ppm"):
        raise bad("task")
    c["data"] = _paths(c["data"], "data", base_dir, where)
    if c["eval_data"] is not None:
        c["eval_data"] = _paths(c["eval_data"], "eval_data", base_dir, where)
    if not isinstance(c["out"], str) or not c["out"]:
        raise bad("out")
    c["out"] = os.path.normpath(os.path.join(base_dir, os.path.expanduser(c["out"])))

    if c["base"] is not None:
        if not isinstance(c["base"], str):
            raise bad("base")
        if c["architecture"] is not None:
            raise ConfigError(f"{where}: give either 'base' (start from a model dir) or "
                              f"'architecture' (from scratch), not both")
        c["base"] = os.path.normpath(os.path.join(base_dir, os.path.expanduser(c["base"])))
        for f in ("config.json", "pytorch_model.bin"):
            if not os.path.isfile(os.path.join(c["base"], f)):
                raise ConfigError(f"{where}: 'base': {c['base']} has no {f} (a base must be a model "
                                  f"dir written by trainer/train.py: it loads the torch weights, not model.onnx)")
    else:
        a = c["architecture"]
        if not isinstance(a, dict):
            raise ConfigError(f"{where}: 'base' is null, so 'architecture' must be an object with "
                              f"{', '.join(ARCH_REQUIRED)}")
        unknown = sorted(set(a) - set(ARCH_REQUIRED) - set(ARCH_DEFAULTS))
        if unknown:
            raise ConfigError(f"{where}: architecture: unknown field(s) {', '.join(unknown)}")
        arch = dict(ARCH_DEFAULTS)
        for k in ARCH_REQUIRED:
            if k not in a:
                raise ConfigError(f"{where}: architecture.{k} is required")
        arch.update(a)
        for k in ARCH_REQUIRED + ("max_position_embeddings",):
            if not _is_int(arch[k]) or arch[k] < 1:
                raise ConfigError(f"{where}: architecture.{k} must be a positive integer, got {json.dumps(arch[k])}")
        for k in ("rope_theta", "rms_norm_eps"):
            if not _is_num(arch[k]) or arch[k] <= 0:
                raise ConfigError(f"{where}: architecture.{k} must be a positive number")
        if arch["num_attention_heads"] % arch["num_key_value_heads"]:
            raise ConfigError(f"{where}: architecture: num_attention_heads must be a multiple of num_key_value_heads")
        if arch["head_dim"] % 2:
            raise ConfigError(f"{where}: architecture.head_dim must be even (RoPE rotates pairs)")
        c["architecture"] = arch

    if not _is_int(c["epochs"]) or c["epochs"] < 1:
        raise bad("epochs")
    if c["batch_tokens"] is not None and c["batch_size"] is not None:
        raise ConfigError(f"{where}: give 'batch_tokens' or 'batch_size', not both")
    if c["batch_tokens"] is None and c["batch_size"] is None:
        c["batch_tokens"] = DEFAULT_BATCH_TOKENS
    for k in ("batch_tokens", "batch_size"):
        if c[k] is not None and (not _is_int(c[k]) or c[k] < 1):
            raise bad(k)
    if not _is_num(c["lr"]) or c["lr"] <= 0:
        raise bad("lr")
    if not _is_num(c["min_lr_ratio"]) or not 0 <= c["min_lr_ratio"] <= 1:
        raise bad("min_lr_ratio")
    if not _is_num(c["warmup"]) or c["warmup"] < 0 or (c["warmup"] >= 1 and not float(c["warmup"]).is_integer()):
        raise bad("warmup")
    for k in ("weight_decay", "grad_clip", "checkpoint_every_s"):
        if not _is_num(c[k]) or c[k] < 0:
            raise bad(k)
    if not _is_num(c["progress_every_s"]) or c["progress_every_s"] <= 0:
        raise bad("progress_every_s")
    if not _is_int(c["seed"]):
        raise bad("seed")
    if not isinstance(c["bf16"], bool):
        raise bad("bf16")
    if not _is_int(c["threads"]) or c["threads"] < 1:
        raise bad("threads")
    if c["device"] not in ("cpu", "cuda", "auto"):
        raise bad("device")
    if c["time_limit_s"] is not None and (not _is_num(c["time_limit_s"]) or c["time_limit_s"] <= 0):
        raise bad("time_limit_s")
    if c["ppm_output"] not in ("hidden", "score"):
        raise bad("ppm_output")
    if c["kv_cache"] not in ("in-place", "concat"):
        raise bad("kv_cache")
    if not isinstance(c["reviewer"], bool) or (c["reviewer"] and c["task"] != "sft"):
        raise bad("reviewer")
    if c["max_length"] is not None and (not _is_int(c["max_length"]) or c["max_length"] < 2):
        raise bad("max_length")
    return c


# Fields that define what is trained: a resumed run must agree on all of them.
PLAN_FIELDS = ("task", "base", "architecture", "data", "epochs", "batch_tokens", "batch_size",
               "lr", "min_lr_ratio", "warmup", "weight_decay", "grad_clip", "seed", "max_length",
               "reviewer")
