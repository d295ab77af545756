#!/usr/bin/python3
"""The workbench's Llama in PyTorch: the same architecture, weight names and batch as
core/model/llama.ts, for side-by-side speed (this script) and numerical checks
(tests/fixtures/torch/llama_ref.py imports LlamaRef from here).

Usage: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_reference.py --preset tiny [--threads 2] [--steps 5] [--device cuda]
       ... --generate-only [--gen-batches 1,8,32]   (batched generation only, for bench/generate.ts)
Prints one JSON object: training tokens/s, ms/step, generation tokens/s with KV cache, and the
thread and BLAS settings it ran with. Debian's torch links the slow reference BLAS unless
libopenblas0-pthread is installed (see TFJS-NOTES.md); the JSON reports which one torch found.
"""
import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F

PRESETS = {
    "tiny": dict(vocab_size=512, dim=128, n_layers=4, n_heads=4, n_kv_heads=2, hidden_dim=384, max_seq_len=128, batch=16),
    "small": dict(vocab_size=4096, dim=288, n_layers=6, n_heads=6, n_kv_heads=6, hidden_dim=768, max_seq_len=256, batch=8),
}


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class LlamaRef(torch.nn.Module):
    """Hugging Face LlamaForCausalLM's math, written out; parameters keyed by HF names."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d, kv = cfg["dim"], cfg["n_kv_heads"] * (cfg["dim"] // cfg["n_heads"])
        shapes = {"model.embed_tokens.weight": (cfg["vocab_size"], d)}
        for i in range(cfg["n_layers"]):
            p = f"model.layers.{i}"
            shapes.update({
                f"{p}.input_layernorm.weight": (d,),
                f"{p}.self_attn.q_proj.weight": (d, d),
                f"{p}.self_attn.k_proj.weight": (kv, d),
                f"{p}.self_attn.v_proj.weight": (kv, d),
                f"{p}.self_attn.o_proj.weight": (d, d),
                f"{p}.post_attention_layernorm.weight": (d,),
                f"{p}.mlp.gate_proj.weight": (cfg["hidden_dim"], d),
                f"{p}.mlp.up_proj.weight": (cfg["hidden_dim"], d),
                f"{p}.mlp.down_proj.weight": (d, cfg["hidden_dim"]),
            })
        shapes["model.norm.weight"] = (d,)
        if not cfg.get("tie_embeddings", False):
            shapes["lm_head.weight"] = (cfg["vocab_size"], d)
        self.w = torch.nn.ParameterDict({k.replace(".", "__"): torch.nn.Parameter(init_weight(k, s, cfg)) for k, s in shapes.items()})

    def p(self, name):
        return self.w[name.replace(".", "__")]

    def norm(self, x, name):
        eps = self.cfg.get("norm_eps", 1e-5)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * self.p(name)

    def rope(self, start, T):
        hd = self.cfg["dim"] // self.cfg["n_heads"]
        theta = self.cfg.get("rope_theta", 10000.0)
        inv_freq = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
        freqs = torch.outer(torch.arange(start, start + T, dtype=torch.float64), inv_freq)
        emb = torch.cat([freqs, freqs], -1)
        device = self.p("model.norm.weight").device
        return emb.cos().float().to(device), emb.sin().float().to(device)

    def forward(self, tokens, cache=None, start=0):
        cfg = self.cfg
        B, T = tokens.shape
        H, Hkv = cfg["n_heads"], cfg["n_kv_heads"]
        hd = cfg["dim"] // H
        cos, sin = self.rope(start, T)
        x = F.embedding(tokens, self.p("model.embed_tokens.weight"))
        for i in range(cfg["n_layers"]):
            p = f"model.layers.{i}"
            h = self.norm(x, f"{p}.input_layernorm.weight")
            q = F.linear(h, self.p(f"{p}.self_attn.q_proj.weight")).view(B, T, H, hd).transpose(1, 2)
            k = F.linear(h, self.p(f"{p}.self_attn.k_proj.weight")).view(B, T, Hkv, hd).transpose(1, 2)
            v = F.linear(h, self.p(f"{p}.self_attn.v_proj.weight")).view(B, T, Hkv, hd).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            if cache is not None:
                if i in cache:
                    k = torch.cat([cache[i][0], k], 2)
                    v = torch.cat([cache[i][1], v], 2)
                cache[i] = (k, v)
            k = k.repeat_interleave(H // Hkv, dim=1)  # HF repeat_kv
            v = v.repeat_interleave(H // Hkv, dim=1)
            Tk = k.shape[2]
            key_pos = torch.arange(Tk, device=x.device) + (start if cache is None else 0)
            allowed = key_pos[None, :] <= torch.arange(start, start + T, device=x.device)[:, None]  # [T, Tk]
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
            o = torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1) @ v
            x = x + F.linear(o.transpose(1, 2).reshape(B, T, H * hd), self.p(f"{p}.self_attn.o_proj.weight"))
            m = self.norm(x, f"{p}.post_attention_layernorm.weight")
            x = x + F.linear(F.silu(F.linear(m, self.p(f"{p}.mlp.gate_proj.weight"))) * F.linear(m, self.p(f"{p}.mlp.up_proj.weight")),
                             self.p(f"{p}.mlp.down_proj.weight"))
        out = "model.embed_tokens.weight" if cfg.get("tie_embeddings", False) else "lm_head.weight"
        return F.linear(self.norm(x, "model.norm.weight"), self.p(out))


def init_weight(name, shape, cfg):
    if len(shape) == 1:
        return torch.ones(shape)
    std = 0.02 / math.sqrt(2 * cfg["n_layers"]) if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
    return torch.randn(shape) * std


def blas_name():
    """The BLAS library actually loaded (Debian's torch goes through libblas.so.3 alternatives)."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower()}
    except OSError:
        return "unknown"
    if any("openblas" in lib for lib in libs):
        return "OpenBLAS"
    return ", ".join(sorted(libs)) or "unknown"


def generate_batch(model, prompts, n_new, sample=False, seed=0):
    """Batched generation as bench/generate.ts measures it: one KV cache for the batch (grown by
    torch.cat along time, as Hugging Face's DynamicCache does), greedy or sampling at temperature 1,
    and the log-probability of every chosen token (what PPO rollouts record)."""
    gen = torch.Generator().manual_seed(seed)
    B, T0 = prompts.shape
    cache = {}
    logits = model(prompts, cache=cache)[:, -1]
    out, logprobs = [], []
    for i in range(n_new):
        logp = torch.log_softmax(logits, -1)
        nxt = torch.multinomial(logp.exp(), 1, generator=gen) if sample else logits.argmax(-1, keepdim=True)
        out.append(nxt)
        logprobs.append(logp.gather(1, nxt))
        if i + 1 < n_new:
            logits = model(nxt, cache=cache, start=T0 + i)[:, -1]
    return torch.cat(out, 1), torch.cat(logprobs, 1)


def generation_rates(model, cfg, batches, n_new):
    """Tokens/s (wall and per process CPU second) of generate_batch per batch size, greedy, plus
    sampling at the largest batch. Prompts of 8 random tokens."""
    rates = {}
    runs = [(b, False) for b in batches] + [(max(batches), True)]
    with torch.no_grad():
        generate_batch(model, torch.randint(0, cfg["vocab_size"], (max(batches), 8)), 16)  # warm-up
        for b, sample in runs:
            prompts = torch.randint(0, cfg["vocab_size"], (b, 8))
            t0, c0 = time.perf_counter(), time.process_time()
            generate_batch(model, prompts, n_new, sample=sample)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            key = f"generate_{'sample_' if sample else ''}tokens_per_s_b{b}"
            rates[key] = round(b * n_new / wall)
            rates[key.replace("per_s", "per_cpu_s")] = round(b * n_new / cpu)
    return rates


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny", choices=list(PRESETS))
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--min-seconds", type=float, default=0, help="measure training steps for at least this long (median step reported)")
    ap.add_argument("--gen-tokens", type=int, default=120)
    ap.add_argument("--batch", type=int, default=None, help="default: the preset's batch")
    ap.add_argument("--seq", type=int, default=None, help="default: the preset's max_seq_len")
    ap.add_argument("--generate-only", action="store_true", help="only batched generation (bench/generate.ts)")
    ap.add_argument("--gen-batches", default="1,8,32")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda beside a GPU backend's figures (training and single-row generation)")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    cfg = dict(PRESETS[args.preset])
    if args.seq:
        cfg["max_seq_len"] = args.seq
    B, T = cfg.pop("batch"), cfg["max_seq_len"]
    B = args.batch or B
    model = LlamaRef(cfg)
    if args.generate_only:
        batches = [int(b) for b in args.gen_batches.split(",")]
        print(json.dumps({
            "framework": f"torch {torch.__version__}",
            "preset": args.preset,
            "blas": blas_name(),
            "torch_threads": torch.get_num_threads(),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
            "new_tokens": min(args.gen_tokens, T - 8),
            **generation_rates(model, cfg, batches, min(args.gen_tokens, T - 8)),
        }))
        return
    device = torch.device(args.device)
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-5)
    tokens = torch.randint(0, cfg["vocab_size"], (B, T + 1)).to(device)

    def step():
        logits = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, cfg["vocab_size"]), tokens[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    step()  # warm-up
    # At least --steps steps and --min-seconds of them; the median step, as bench/model.ts reports ours.
    step_ms = []
    t0 = time.perf_counter()
    while len(step_ms) < args.steps or time.perf_counter() - t0 < args.min_seconds:
        start = time.perf_counter()
        step()
        step_ms.append((time.perf_counter() - start) * 1000)
    ms_per_step = statistics.median(step_ms)

    with torch.no_grad():
        n_new = min(args.gen_tokens, T - 8)
        t0 = time.perf_counter()
        cache = {}
        logits = model(tokens[:1, :8], cache=cache)
        for i in range(n_new):
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            logits = model(nxt, cache=cache, start=8 + i)
        if device.type == "cuda":
            torch.cuda.synchronize()
        gen_tps = n_new / (time.perf_counter() - t0)

    print(json.dumps({
        "framework": f"torch {torch.__version__}",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "preset": args.preset,
        "blas": blas_name(),
        "torch_threads": torch.get_num_threads(),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "batch": B, "seq": T,
        "ms_per_step": round(ms_per_step, 1),
        "steps_measured": len(step_ms),
        "train_tokens_per_s": round(B * T / ms_per_step * 1000),
        "gen_tokens_per_s_kv_cache": round(gen_tps),
    }))


if __name__ == "__main__":
    main()
