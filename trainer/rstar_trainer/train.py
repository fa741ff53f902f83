"""The reference trainer: SFT of the policy, pairwise training of the PPM. Entry point:
trainer/train.py (which checks for torch first). The contract is in trainer/README.md.

Crash safety: everything is written to OUT.tmp and renamed to OUT at the end; OUT.tmp holds
checkpoint.pt (model, optimizer, schedule, position in the batch plan, metrics so far),
saved at each epoch end, every checkpoint_every_s and on SIGINT/SIGTERM, so `--resume`
continues at the same batch. The batch plan depends only on (data, seed, epoch), so a
resumed run sees the same batches as an uninterrupted one.
"""
import fcntl
import hashlib
import json
import math
import os
import platform
import shutil
import signal
import sys
import time
import warnings

import torch
import torch.nn.functional as F

from . import config as config_mod
from . import data, tokenizer
from .export import save_model_dir
from .model import RstarConfig, RstarForCausalLM, RstarPPM

CHECKPOINT = "checkpoint.pt"
WEIGHTS = "pytorch_model.bin"
PPM_TEMPERATURE = 5.0  # inference score = tanh(r / 5), the rStar-Math authors' constant
CHECKPOINT_VERSION = 1
# Test hook: exit abruptly (no checkpoint, no cleanup) right after this global step.
CRASH_ENV = "RSTAR_TRAINER_CRASH_AFTER_STEP"


class TrainError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


def log(msg):
    print(f"[train] {msg}", file=sys.stderr, flush=True)


def fmt_time(s):
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        flags = []
    return {k: k in flags for k in ("avx512_bf16", "amx_bf16", "amx_tile")}


def file_sha256(paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- model

def build_model(cfg):
    """A fresh model from `architecture`, or one initialised from `base`: for SFT a policy
    dir; for PPM a policy dir (backbone copied, new value head) or a PPM dir (all)."""
    task = cfg["task"]
    if cfg["base"] is None:
        mc = RstarConfig.from_dict(cfg["architecture"])
        model = RstarForCausalLM(mc) if task == "sft" else RstarPPM(mc)
        init_weights(model)
        return model, {"from": "scratch"}
    base = cfg["base"]
    with open(os.path.join(base, "config.json")) as f:
        bc = json.load(f)
    mc = RstarConfig.from_dict(bc)
    if mc.vocab_size != tokenizer.VOCAB_SIZE:
        raise TrainError(f"base {base}: vocab_size {mc.vocab_size} is not this tokenizer's "
                         f"{tokenizer.VOCAB_SIZE}")
    sd = torch.load(os.path.join(base, WEIGHTS), map_location="cpu")
    base_is_ppm = "value_head.weight" in sd
    if task == "sft":
        if base_is_ppm:
            raise TrainError(f"base {base} is a PPM; SFT needs a policy dir")
        model = RstarForCausalLM(mc)
        model.load_state_dict(sd)
        return model, {"from": base, "kind": "policy"}
    model = RstarPPM(mc)
    if base_is_ppm:
        model.load_state_dict(sd)
        return model, {"from": base, "kind": "ppm"}
    backbone = {k[len("model."):]: v for k, v in sd.items() if k.startswith("model.")}
    model.model.load_state_dict(backbone)  # strict: every backbone tensor must be there
    init_weights(model.value_head)
    return model, {"from": base, "kind": "policy backbone + new value head"}


def init_weights(module):
    """Small-normal init (std 0.02, residual projections scaled by 1/sqrt(2 * layers)),
    zero biases; norms stay at 1. Seeded by the caller's torch.manual_seed."""
    layers = getattr(getattr(module, "config", None), "num_hidden_layers", 1)
    for name, p in module.named_parameters():
        if "norm" in name:
            continue
        if name.endswith("bias"):
            torch.nn.init.zeros_(p)
        elif name.endswith(("o_proj.weight", "down_proj.weight")):
            torch.nn.init.normal_(p, std=0.02 / math.sqrt(2 * layers))
        else:
            torch.nn.init.normal_(p, std=0.02)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- batches

def sft_tensors(examples, idx, device):
    rows = [examples[i] for i in idx]
    B, T = len(rows), max(len(ids) for ids, _ in rows)
    ids = torch.full((B, T), tokenizer.PAD_ID, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    labels = torch.full((B, T), -100, dtype=torch.long)
    for b, (x, n_prompt) in enumerate(rows):
        n = len(x)
        ids[b, :n] = torch.tensor(x)
        mask[b, :n] = 1
        labels[b, n_prompt - 1:n - 1] = torch.tensor(x[n_prompt:])  # position t predicts t+1
    pos = torch.arange(T).unsqueeze(0).expand(B, T).contiguous()
    return ids.to(device), mask.to(device), pos.to(device), labels.to(device), int(mask.sum())


def sft_forward(model, batch):
    ids, mask, pos, labels, _ = batch
    logits = model(ids, mask, pos)[0]
    flat = labels.reshape(-1)
    sel = flat != -100
    lg = logits.reshape(-1, logits.shape[-1])[sel].float()
    tgt = flat[sel]
    loss = F.cross_entropy(lg, tgt)
    correct = int((lg.argmax(-1) == tgt).sum())
    return loss, {"targets": int(tgt.numel()), "loss_sum": float(loss) * tgt.numel(), "correct": correct}


def ppm_tensors(examples, idx, device):
    """Prompts once ([B, P], right-padded), then chosen rows and rejected rows ([2B, S])
    on top of the prompts' KV cache: the cache has a masked gap after a short prompt,
    which the model handles (see model.py)."""
    rows = [examples[i] for i in idx]
    B = len(rows)
    P = max(len(p) for p, _, _ in rows)
    S = max(max(len(c), len(r)) for _, c, r in rows)
    pids = torch.full((B, P), tokenizer.PAD_ID, dtype=torch.long)
    pmask = torch.zeros(B, P, dtype=torch.long)
    sids = torch.full((2 * B, S), tokenizer.PAD_ID, dtype=torch.long)
    smask = torch.zeros(2 * B, S, dtype=torch.long)
    spos = torch.zeros(2 * B, S, dtype=torch.long)
    last = torch.zeros(2 * B, dtype=torch.long)
    for b, (p, c, r) in enumerate(rows):
        pids[b, :len(p)] = torch.tensor(p)
        pmask[b, :len(p)] = 1
        for row, step in ((b, c), (B + b, r)):
            sids[row, :len(step)] = torch.tensor(step)
            smask[row, :len(step)] = 1
            spos[row] = torch.arange(len(p), len(p) + S)
            last[row] = len(step) - 1
    ppos = torch.arange(P).unsqueeze(0).expand(B, P).contiguous()
    mask = torch.cat([pmask.repeat(2, 1), smask], dim=1)
    tokens = int(pmask.sum()) + int(smask.sum())
    t = [x.to(device) for x in (pids, pmask, ppos, sids, mask, spos, last)]
    return (*t, tokens)


def ppm_forward(model, batch):
    pids, pmask, ppos, sids, mask, spos, last, _ = batch
    B = pids.shape[0]
    _, _, past = model(pids, pmask, ppos)
    past = [(torch.cat([k, k]), torch.cat([v, v])) for k, v in past]
    r = model(sids, mask, spos, past)[0].float()
    r = r.gather(1, last.unsqueeze(1)).squeeze(1)
    rc, rr = r[:B], r[B:]
    loss = -F.logsigmoid(rc - rr).mean()
    with torch.no_grad():
        tc, tr = torch.tanh(rc / PPM_TEMPERATURE), torch.tanh(rr / PPM_TEMPERATURE)
        stats = {"pairs": B, "loss_sum": float(loss) * B, "correct": int((rc > rr).sum()),
                 "tanh_loss_sum": float(-F.logsigmoid(tc - tr).sum()),
                 "tanh_correct": int((tc > tr).sum()),
                 "score_chosen_sum": float(tc.sum()), "score_rejected_sum": float(tr.sum())}
    return loss, stats


TASKS = {"sft": (sft_tensors, sft_forward), "ppm": (ppm_tensors, ppm_forward)}


def summarize(task, acc):
    """Epoch/eval numbers from summed batch stats."""
    if task == "sft":
        n = max(acc.get("targets", 0), 1)
        return {"loss": acc.get("loss_sum", 0) / n, "token_accuracy": acc.get("correct", 0) / n,
                "response_tokens": acc.get("targets", 0)}
    n = max(acc.get("pairs", 0), 1)
    return {"loss": acc.get("loss_sum", 0) / n, "pair_accuracy": acc.get("correct", 0) / n,
            "tanh_loss": acc.get("tanh_loss_sum", 0) / n, "tanh_pair_accuracy": acc.get("tanh_correct", 0) / n,
            "mean_score_chosen": acc.get("score_chosen_sum", 0) / n,
            "mean_score_rejected": acc.get("score_rejected_sum", 0) / n, "pairs": acc.get("pairs", 0)}


def add_stats(acc, stats):
    for k, v in stats.items():
        acc[k] = acc.get(k, 0) + v


# --------------------------------------------------------------------------- loop

class Trainer:
    def __init__(self, cfg, raw_config_text, resume=False, force=False):
        self.cfg, self.raw_config_text, self.resume, self.force = cfg, raw_config_text, resume, force
        self.t0 = time.time()
        self.stop_signal = None

    # -- setup --------------------------------------------------------------
    def setup_device(self):
        cfg = self.cfg
        torch.set_num_threads(cfg["threads"])
        want = cfg["device"]
        if want == "cuda" and not torch.cuda.is_available():
            raise TrainError("device 'cuda' asked for, but torch sees no CUDA device")
        self.device = torch.device("cuda" if want in ("cuda", "auto") and torch.cuda.is_available() else "cpu")
        self.flags = cpu_flags()
        if cfg["bf16"] and self.device.type == "cpu" and not (self.flags["avx512_bf16"] or self.flags["amx_bf16"]):
            log("warning: bf16 asked for, but this CPU has neither avx512_bf16 nor AMX: bf16 "
                "autocast is emulated and may be slower than fp32")

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg["bf16"])

    def load_data(self):
        cfg = self.cfg
        if cfg["max_length"] is None:
            self.max_length = min(1024, self.model.config.max_position_embeddings)
        else:
            self.max_length = cfg["max_length"]
            if self.max_length > self.model.config.max_position_embeddings:
                raise TrainError(f"max_length {self.max_length} exceeds the model's "
                                 f"max_position_embeddings {self.model.config.max_position_embeddings}")
        try:
            self.train_set, self.train_stats = data.load(cfg["data"], cfg["task"], self.max_length, cfg["reviewer"])
            self.eval_set, self.eval_stats = (data.load(cfg["eval_data"], cfg["task"], self.max_length, cfg["reviewer"])
                                              if cfg["eval_data"] else ([], None))
        except data.DataError as e:
            raise TrainError(str(e)) from None
        if not self.train_set:
            raise TrainError(f"no training examples left ({json.dumps(self.train_stats)}); "
                             f"raise max_length or check the data")
        s = self.train_stats
        log(f"{cfg['task']} data: {s['examples']} examples, {s['tokens']} tokens, longest {s['max_tokens']}"
            f", dropped {s['dropped_too_long']} over max_length {self.max_length}"
            + (f", {s['dropped_identical']} identical pairs" if cfg["task"] == "ppm" else "")
            + (f", {s['unk_tokens']} <unk> tokens" if s["unk_tokens"] else "")
            + (f"; eval {self.eval_stats['examples']} examples" if self.eval_stats else ""))
        if cfg["task"] == "sft" and s["no_end_of_answer"]:
            log(f"warning: {s['no_end_of_answer']} responses do not end with <end_of_answer> "
                f"(the policy stops on it)")
        self.plans = [data.plan_batches(self.train_set, cfg["task"], cfg["seed"], e,
                                        cfg["batch_tokens"], cfg["batch_size"])
                      for e in range(cfg["epochs"])]
        self.eval_plan = (data.plan_batches(self.eval_set, cfg["task"], cfg["seed"], 0,
                                            cfg["batch_tokens"], cfg["batch_size"], shuffle=False)
                          if self.eval_set else [])
        self.total_steps = sum(len(p) for p in self.plans)
        w = cfg["warmup"]
        self.warmup_steps = int(w) if w >= 1 else int(round(w * self.total_steps))

    def lr_factor(self, step):
        """Linear warmup to lr, then cosine down to min_lr_ratio * lr at the last step."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        t = min(1.0, (step - self.warmup_steps) / span)
        lo = self.cfg["min_lr_ratio"]
        return lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * t))

    def make_optimizer(self):
        decay = [p for p in self.model.parameters() if p.ndim >= 2]
        no_decay = [p for p in self.model.parameters() if p.ndim < 2]  # norms, biases
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": self.cfg["weight_decay"]},
                                      {"params": no_decay, "weight_decay": 0.0}],
                                     lr=self.cfg["lr"], betas=(0.9, 0.95), eps=1e-8)

    def set_lr(self, step):
        for g in self.opt.param_groups:
            g["lr"] = self.cfg["lr"] * self.lr_factor(step)
        return self.opt.param_groups[0]["lr"]

    # -- dirs and checkpoints -----------------------------------------------
    def check_out(self):
        out = self.cfg["out"]
        self.tmp = out + ".tmp"
        if os.path.exists(out) and not self.force:
            raise TrainError(f"{out} already exists; remove it, choose another 'out', or pass --force "
                             f"to replace it when training finishes")

    def prepare_dirs(self):
        os.makedirs(os.path.dirname(self.cfg["out"]) or ".", exist_ok=True)
        lock_path = os.path.join(self.tmp, ".lock")
        if os.path.exists(lock_path):
            self._lock(lock_path)  # refuse while another trainer is writing it
        ckpt = os.path.join(self.tmp, CHECKPOINT)
        state = None
        if os.path.exists(self.tmp):
            if self.resume and os.path.exists(ckpt):
                state = torch.load(ckpt, map_location="cpu")
            else:
                why = "no checkpoint in it" if self.resume else "not resuming (--resume continues it)"
                log(f"removing the unfinished {self.tmp} ({why})")
                self._unlock()
                shutil.rmtree(self.tmp)
        elif self.resume:
            log(f"--resume: no {self.tmp}, starting from the beginning")
        os.makedirs(self.tmp, exist_ok=True)
        self._lock(lock_path)
        return state

    def _lock(self, path):
        if getattr(self, "lock_file", None) is not None:
            return
        f = open(path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            raise TrainError(f"another trainer (pid {f.read().strip() or '?'}) is writing {os.path.dirname(path)}") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self.lock_file = f

    def _unlock(self):
        if getattr(self, "lock_file", None) is not None:
            self.lock_file.close()
            self.lock_file = None

    def fingerprint(self):
        fp = {k: self.cfg[k] for k in config_mod.PLAN_FIELDS}
        fp["data_sha256"] = file_sha256(self.cfg["data"])
        return fp

    def save_checkpoint(self):
        self.progress["wall_time_s"] = self.wall_base + (time.time() - self.t0)
        state = {"version": CHECKPOINT_VERSION, "fingerprint": self.fp, "model": self.model.state_dict(),
                 "optimizer": self.opt.state_dict(), "progress": self.progress, "metrics": self.metrics,
                 "torch_rng": torch.get_rng_state()}
        path = os.path.join(self.tmp, CHECKPOINT)
        torch.save(state, path + ".part")
        os.replace(path + ".part", path)
        self.last_checkpoint = time.time()

    def restore(self, state):
        if state.get("version") != CHECKPOINT_VERSION:
            raise TrainError(f"{self.tmp}/{CHECKPOINT} has checkpoint version {state.get('version')}, "
                             f"this trainer writes {CHECKPOINT_VERSION}; delete {self.tmp} to start over")
        old = state["fingerprint"]
        diff = [k for k in self.fp if old.get(k) != self.fp[k]]
        if diff:
            raise TrainError(f"--resume: the config or data differ from the interrupted run in "
                             f"{', '.join(diff)}; delete {self.tmp} or run without --resume to start over")
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.progress = state["progress"]
        self.metrics = state["metrics"]
        torch.set_rng_state(state["torch_rng"])
        self.progress["sessions"] += 1
        limit = self.cfg["time_limit_s"]
        if self.progress["status"] == "time_limit" and (limit is None or self.progress["train_time_s"] < limit):
            self.progress["status"] = "running"  # resumed with more time: carry on
        p = self.progress
        log(f"resuming at epoch {p['epoch'] + 1}, step {p['step_in_epoch']} "
            f"(global {p['global_step']}/{self.total_steps}, {fmt_time(p['train_time_s'])} trained)")

    # -- evaluation ---------------------------------------------------------
    def evaluate(self):
        if not self.eval_plan:
            return None
        make, forward = TASKS[self.cfg["task"]]
        self.model.eval()
        acc = {}
        with torch.no_grad(), self.autocast():
            for idx in self.eval_plan:
                add_stats(acc, forward(self.model, make(self.eval_set, idx, self.device))[1])
        self.model.train()
        return summarize(self.cfg["task"], acc)

    # -- signals ------------------------------------------------------------
    def _on_signal(self, signum, _frame):
        if self.stop_signal is not None:  # second signal: give up now
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        self.stop_signal = signum
        log(f"got {signal.Signals(signum).name}: saving a checkpoint after this step")

    # -- main ---------------------------------------------------------------
    def run(self):
        cfg = self.cfg
        self.setup_device()
        self.check_out()
        torch.manual_seed(cfg["seed"])
        self.model, self.base_info = build_model(cfg)
        self.model.to(self.device)
        self.load_data()  # before touching OUT.tmp: a data error leaves nothing behind
        self.make_optimizer()
        self.fp = self.fingerprint()
        state = self.prepare_dirs()
        self.progress = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "train_time_s": 0.0,
                         "wall_time_s": 0.0, "tokens": 0, "sessions": 1, "epoch_acc": {},
                         "epoch_tokens": 0, "epoch_time_s": 0.0, "status": "running"}
        self.metrics = {"epochs": [], "curve": [], "initial_eval": None}
        if state is not None:
            self.restore(state)
            del state
        self.wall_base = self.progress["wall_time_s"]
        n_params = count_params(self.model)
        log(f"model: {n_params:,} parameters ({self.base_info['from']}), {self.total_steps} steps "
            f"in {cfg['epochs']} epoch(s), warmup {self.warmup_steps}, device {self.device}, "
            f"threads {torch.get_num_threads()}, bf16 {cfg['bf16']}")
        if self.progress["global_step"] == 0 and self.metrics["initial_eval"] is None and self.eval_plan:
            self.metrics["initial_eval"] = self.evaluate()
            log(f"initial eval: {self.fmt_eval(self.metrics['initial_eval'])}")

        old_handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.loop()
        finally:
            for s, h in old_handlers.items():
                signal.signal(s, h)
        if self.stop_signal is not None:
            self.save_checkpoint()
            log(f"interrupted: checkpoint saved in {self.tmp}; run again with --resume to continue")
            return 128 + self.stop_signal
        self.finish(n_params)
        return 0

    def fmt_eval(self, e):
        if e is None:
            return "-"
        if self.cfg["task"] == "sft":
            return f"loss {e['loss']:.4f} token acc {e['token_accuracy']:.3f}"
        return (f"raw-score loss {e['loss']:.4f} pair acc {e['pair_accuracy']:.3f} | tanh(r/5): "
                f"loss {e['tanh_loss']:.4f} pair acc {e['tanh_pair_accuracy']:.3f}")

    def loop(self):
        cfg, p = self.cfg, self.progress
        make, forward = TASKS[cfg["task"]]
        crash_after = int(os.environ.get(CRASH_ENV, "0") or 0)
        limit = cfg["time_limit_s"]
        curve_every = max(1, self.total_steps // 200)
        self.model.train()
        self.last_checkpoint = time.time()
        last_report, win = time.time(), {"loss": 0.0, "n": 0, "tokens": 0, "t": 0.0}
        while p["epoch"] < cfg["epochs"] and p["status"] == "running":
            plan = self.plans[p["epoch"]]
            while p["step_in_epoch"] < len(plan):
                if self.stop_signal is not None:  # (one that came during an epoch-end eval)
                    return
                if limit is not None and p["train_time_s"] >= limit:
                    p["status"] = "time_limit"
                    log(f"time limit {limit}s reached at step {p['global_step']}/{self.total_steps}: "
                        f"stopping early (the cosine schedule did not finish)")
                    break
                ts = time.time()
                lr = self.set_lr(p["global_step"])
                batch = make(self.train_set, plan[p["step_in_epoch"]], self.device)
                with self.autocast():
                    loss, stats = forward(self.model, batch)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg["grad_clip"] > 0:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg["grad_clip"])
                self.opt.step()
                if not math.isfinite(float(loss)):
                    raise TrainError(f"loss is {float(loss)} at step {p['global_step']}: lower lr or use fp32")
                dt = time.time() - ts
                tokens = batch[-1]
                p["step_in_epoch"] += 1
                p["global_step"] += 1
                p["train_time_s"] += dt
                p["epoch_time_s"] += dt
                p["tokens"] += tokens
                p["epoch_tokens"] += tokens
                add_stats(p["epoch_acc"], stats)
                win["loss"] += float(loss)
                win["n"] += 1
                win["tokens"] += tokens
                win["t"] += dt
                if p["global_step"] % curve_every == 0 or p["global_step"] == self.total_steps:
                    self.metrics["curve"].append({"step": p["global_step"], "epoch": p["epoch"] + 1,
                                                  "loss": round(float(loss), 5), "lr": lr,
                                                  "tokens": p["tokens"], "train_time_s": round(p["train_time_s"], 2)})
                now = time.time()
                if now - last_report >= cfg["progress_every_s"]:
                    self.report(win, lr)
                    last_report, win = now, {"loss": 0.0, "n": 0, "tokens": 0, "t": 0.0}
                if self.stop_signal is not None:
                    return  # run() saves the checkpoint
                if p["step_in_epoch"] < len(plan) and now - self.last_checkpoint >= cfg["checkpoint_every_s"]:
                    self.save_checkpoint()
                if crash_after and p["global_step"] == crash_after:
                    log(f"{CRASH_ENV}={crash_after}: exiting abruptly (test hook)")
                    os._exit(75)
            if p["step_in_epoch"] >= len(plan):
                self.end_epoch()
                if crash_after and p["global_step"] == crash_after:
                    log(f"{CRASH_ENV}={crash_after}: exiting abruptly (test hook)")
                    os._exit(75)
        if p["status"] == "running":
            p["status"] = "completed"

    def report(self, win, lr):
        p = self.progress
        rate = win["tokens"] / max(win["t"], 1e-9)
        steps_left = self.total_steps - p["global_step"]
        eta = steps_left * p["train_time_s"] / max(p["global_step"], 1)
        if self.cfg["time_limit_s"] is not None:
            eta = min(eta, max(0.0, self.cfg["time_limit_s"] - p["train_time_s"]))
        log(f"epoch {p['epoch'] + 1}/{self.cfg['epochs']} step {p['step_in_epoch']}/{len(self.plans[p['epoch']])} "
            f"(total {p['global_step']}/{self.total_steps}) loss {win['loss'] / max(win['n'], 1):.4f} "
            f"lr {lr:.2e} {rate:,.0f} tok/s elapsed {fmt_time(p['train_time_s'])} eta {fmt_time(eta)}")

    def end_epoch(self):
        p = self.progress
        train = summarize(self.cfg["task"], p["epoch_acc"])
        ev = self.evaluate()
        rec = {"epoch": p["epoch"] + 1, "steps": len(self.plans[p["epoch"]]), "train": train, "eval": ev,
               "tokens": p["epoch_tokens"], "train_time_s": round(p["epoch_time_s"], 3),
               "tokens_per_s": round(p["epoch_tokens"] / max(p["epoch_time_s"], 1e-9), 1)}
        self.metrics["epochs"].append(rec)
        log(f"epoch {rec['epoch']}/{self.cfg['epochs']} done in {fmt_time(p['epoch_time_s'])}: train "
            f"{self.fmt_eval(train)}; eval {self.fmt_eval(ev)}; {rec['tokens_per_s']:,.0f} tok/s")
        p.update(epoch=p["epoch"] + 1, step_in_epoch=0, epoch_acc={}, epoch_tokens=0, epoch_time_s=0.0)
        self.save_checkpoint()

    # -- output -------------------------------------------------------------
    def finish(self, n_params):
        cfg, p = self.cfg, self.progress
        epochs = list(self.metrics["epochs"])  # + a partial one (not checkpointed: a resume continues it)
        if p["epoch_tokens"]:  # a time-limited stop mid-epoch: record the partial epoch
            train = summarize(cfg["task"], p["epoch_acc"])
            ev = self.evaluate()
            epochs.append({
                "epoch": p["epoch"] + 1, "partial": True, "steps": p["step_in_epoch"], "train": train,
                "eval": ev, "tokens": p["epoch_tokens"], "train_time_s": round(p["epoch_time_s"], 3),
                "tokens_per_s": round(p["epoch_tokens"] / max(p["epoch_time_s"], 1e-9), 1)})
            log(f"partial epoch {p['epoch'] + 1}: train {self.fmt_eval(train)}; eval {self.fmt_eval(ev)}")
        self.save_checkpoint()  # an export crash resumes straight to the export
        te = time.time()
        model = self.model.to("cpu").float().eval()
        ppm_output = cfg["ppm_output"] if cfg["task"] == "ppm" else "reviewer" if cfg["reviewer"] else None
        torch.save(model.state_dict(), os.path.join(self.tmp, WEIGHTS))
        reference = write_reference(model, self.eval_set or self.train_set, cfg["task"],
                                    os.path.join(self.tmp, "reference.json"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python ints: expected
            opset = save_model_dir(model, self.tmp, ppm_output, cfg["kv_cache"])
        export_s = time.time() - te
        with open(os.path.join(self.tmp, "train_config.json"), "w") as f:
            f.write(self.raw_config_text)
        last = epochs[-1] if epochs else {}
        metrics = {
            "format": 1,
            "task": cfg["task"],
            "status": p["status"],
            "parameters": n_params,
            "architecture": model.config.to_dict(ppm_output),
            "base": self.base_info,
            "data": {"train": self.train_stats, "eval": self.eval_stats, "max_length": self.max_length},
            "steps": p["global_step"], "total_steps_planned": self.total_steps, "warmup_steps": self.warmup_steps,
            "tokens": p["tokens"],
            "tokens_per_s": round(p["tokens"] / max(p["train_time_s"], 1e-9), 1),
            "train_time_s": round(p["train_time_s"], 2),
            "wall_time_s": round(self.wall_base + (time.time() - self.t0), 2),
            "export_s": round(export_s, 2),
            "sessions": p["sessions"],
            "final": {"train": last.get("train"), "eval": last.get("eval")},
            "initial_eval": self.metrics["initial_eval"],
            "epochs": epochs,
            "curve": self.metrics["curve"],
            "onnx_opset": opset,
            "reference_cases": len(reference),
            "seed": cfg["seed"],
            "config": cfg,
            "environment": {"torch": torch.__version__, "python": platform.python_version(),
                            "device": str(self.device), "threads": torch.get_num_threads(),
                            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
                            "GLIBC_TUNABLES": os.environ.get("GLIBC_TUNABLES"),
                            "bf16": cfg["bf16"], "cpu_flags": self.flags, "host": platform.node()},
            "definitions": DEFINITIONS[cfg["task"]],
        }
        with open(os.path.join(self.tmp, "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=1)
            f.write("\n")
        os.remove(os.path.join(self.tmp, CHECKPOINT))
        self._unlock()
        os.remove(os.path.join(self.tmp, ".lock"))
        out = cfg["out"]
        old = None
        if os.path.exists(out):  # --force
            old = f"{out}.old-{os.getpid()}"
            os.rename(out, old)
        os.rename(self.tmp, out)
        if old:
            shutil.rmtree(old)
        fin = metrics["final"]
        log(f"done: {out} ({p['status']}; {p['global_step']} steps, {metrics['tokens_per_s']:,.0f} tok/s, "
            f"train {fmt_time(p['train_time_s'])}, wall {fmt_time(metrics['wall_time_s'])}); final train "
            f"{self.fmt_eval(fin['train'])}; eval {self.fmt_eval(fin['eval'])}")


DEFINITIONS = {
    "sft": {
        "loss": "mean cross-entropy (nats) per RESPONSE token; the query + '\\n\\n' prompt is not scored",
        "token_accuracy": "fraction of response tokens whose argmax prediction is right (teacher forcing)",
        "train": "averaged over the epoch's batches while training (weights still changing)",
        "tokens_per_s": "real (non-pad) input tokens per second of training steps (excludes eval/export)",
    },
    "ppm": {
        "loss": "RAW-score loss, the one trained: mean -log sigmoid(r_chosen - r_rejected), r = value "
                "head at the last token of prompt + step",
        "pair_accuracy": "fraction of pairs with r_chosen > r_rejected (raw score)",
        "tanh_loss": "the same loss on the inference scores s = tanh(r / 5): mean -log sigmoid(s_chosen - "
                     "s_rejected); reported only (it saturates; bounded below by -log sigmoid(2) = 0.127)",
        "tanh_pair_accuracy": "fraction with tanh(r_chosen / 5) > tanh(r_rejected / 5); equals pair_accuracy "
                              "unless float32 tanh saturates to a tie",
        "mean_score_chosen": "mean tanh(r / 5) of the chosen steps (the inference score)",
        "train": "averaged over the epoch's batches while training (weights still changing)",
        "tokens_per_s": "real input tokens per second of training steps: each prompt once + both steps",
    },
}


def write_reference(model, examples, task, path, n=2):
    """torch (fp32, no KV cache) outputs for a few examples, in the format of
    test/fixtures/models/reference.json, so an ONNX runtime can be checked against them."""
    from make_test_models import full, greedy  # trainer/ is on sys.path (train.py puts it there)
    ref = {"format": 1, "note": "torch fp32 after training, no KV cache; ids fed exactly as listed "
                                "(no BOS), positions 0..n-1; greedy runs 24 steps with no early stop",
           "greedy": [], "ppm": []}
    with torch.no_grad():
        for ex in examples[:n]:
            if task == "sft":
                ids, n_prompt = ex
                prompt_ids = ids[:n_prompt]
                new, margin = greedy(model, prompt_ids, 24)
                ref["greedy"].append({"prompt": tokenizer.decode(prompt_ids), "prompt_ids": prompt_ids,
                                      "new_ids": new, "first_logits": [float(x) for x in full(model, prompt_ids)[0][0, -1]],
                                      "margin": margin})
            else:
                p, c, _ = ex
                ids = p + c
                raw, h, _ = full(model, ids)
                ref["ppm"].append({"text": tokenizer.decode(ids), "ids": ids, "raw": [float(x) for x in raw[0]],
                                   "last_hidden": [float(x) for x in h[0, -1]]})
    with open(path, "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    return ref["greedy"] + ref["ppm"]
