"""Generation speed: per-motion latency (batch 1), throughput (batch 32) and LLM forward passes per motion, for both
answer formats with and without the KV cache, against the original's way (text answers, no cache, free sampling
then parsing) in the same run.

    python benchmarks/bench_generation.py                       # untrained `small` LLM + paper-size VQ-VAE
    python benchmarks/bench_generation.py --model DIR           # a model dir (one answer format)

Every prompt carries 3 key tokens and a last token (the original's key-token instruction). Constrained answers may
only end once those codes are written, and an untrained LLM almost never picks them by chance, so its answers run
to the full budget (49 codes = 196 text tokens), as its free answers do (it almost never writes EOS): the
same, worst-case length for every configuration. Prints a table and writes
benchmarks/results/generation[-NAME].json.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from motiongpt.generation.pipeline import MotionGPT
from motiongpt.io import write_json
from motiongpt.limits import NO_GUIDANCE
from motiongpt.llm.base import add_code_tokens, build_base
from motiongpt.llm.formats import build_prompt, format_codes
from motiongpt.llm.tasks import Task
from motiongpt.tokenizer import VQVAE, preset_config

CAPTIONS = ["a person walks forward.", "a man jumps up and down.", "someone waves with the right hand.",
            "the figure kicks with the left leg and turns around.", "a person sits down slowly.",
            "a person runs in a circle.", "someone crouches and then stands up.", "a man throws a ball."]
# (name, format, constrained, KV cache); the first is the baseline
CONFIGS = [("original: text, free, no cache", "text", False, False),
           ("text, constrained, no cache", "text", True, False),
           ("text, constrained, cache", "text", True, True),
           ("vocab, constrained, no cache", "vocab", True, False),
           ("vocab, constrained, cache", "vocab", True, True)]


def untrained(base: str, fmt: str, vq: VQVAE) -> MotionGPT:
    rng = np.random.default_rng(0)
    n = vq.config.codebook_size
    texts = [build_prompt(t.instruction, c, None if t == Task.TEXT else rng.integers(0, n, 3).tolist(), "text")
             + format_codes(rng.integers(0, n, 49).tolist(), "text") for c in CAPTIONS for t in Task]
    llm, tokenizer = build_base(base, texts, seed=0)
    if fmt == "vocab":
        add_code_tokens(llm, tokenizer, n)
    return MotionGPT(vq, llm, tokenizer, fmt)


def measure(model: MotionGPT, constrained: bool, cache: bool, args: argparse.Namespace,
            guidance: float | None) -> dict:
    n = model.codebook_size
    kwargs = dict(max_codes=args.max_codes, constrained=constrained, use_cache=cache, guidance=guidance,
                  key_tokens=[n // 5, 2 * n // 5, 3 * n // 5], last_token=4 * n // 5)
    model.generate(CAPTIONS[0], seed=0, **{**kwargs, "max_codes": 4})  # warm-up
    model.stats.update(rows=0, forward_passes=0, generated_tokens=0)
    started = time.perf_counter()
    single = [model.generate(CAPTIONS[i % len(CAPTIONS)], seed=i, batch_size=1, **kwargs)[0]
              for i in range(args.motions)]
    latency = (time.perf_counter() - started) / args.motions
    single_stats = dict(model.stats)
    model.stats.update(rows=0, forward_passes=0, generated_tokens=0)
    texts = [CAPTIONS[i % len(CAPTIONS)] for i in range(args.batch)]
    started = time.perf_counter()
    batched = model.generate(texts, seed=1000, batch_size=args.batch, **kwargs)
    elapsed = time.perf_counter() - started
    results = single + batched
    return {
        "latency_s_per_motion_batch1": latency,
        "throughput_motions_per_s_batch": args.batch / elapsed,
        "forward_passes_per_motion_batch1": single_stats["forward_passes"] / args.motions,
        "forward_passes_per_motion_batch": model.stats["forward_passes"] / args.batch,
        "llm_tokens_per_motion": (single_stats["generated_tokens"] + model.stats["generated_tokens"])
        / len(results),
        "codes_per_motion": float(np.mean([len(r.codes) for r in results])),
        "parsed_fraction": float(np.mean([not r.fallback for r in results])),
        "controls_met_fraction": float(np.mean([r.satisfies_controls for r in results])),
        "guidance": results[0].settings.guidance,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="model dir; default: untrained --base LLM + random VQ-VAE")
    parser.add_argument("--base", default="small", choices=("tiny", "small"))
    parser.add_argument("--vq-preset", default="paper", help="VQ-VAE preset of the untrained model")
    parser.add_argument("--motions", type=int, default=4, help="motions generated one by one for the latency")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-codes", type=int, default=49)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--guidance", type=float, help="classifier-free guidance of every row but the original's "
                                                       "(unguided); default: the model's own")
    parser.add_argument("--name", default=None, help="suffix of the results file")
    args = parser.parse_args()

    if args.model is not None:
        model = MotionGPT.from_pretrained(args.model, device=args.device)
        models = {model.fmt: model}
        configs = [c for c in CONFIGS if c[1] == model.fmt or c == CONFIGS[0]]
        if model.fmt != "text":
            configs = configs[1:]
        source = str(args.model)
    else:
        torch.manual_seed(0)
        vq = VQVAE(preset_config(args.vq_preset), mean=np.zeros(263, np.float32), std=np.ones(263, np.float32))
        vq = vq.to(args.device).eval()
        models = {fmt: untrained(args.base, fmt, vq) for fmt in ("text", "vocab")}
        for m in models.values():
            m.llm.to(args.device)
        configs, source = CONFIGS, f"untrained {args.base} LLM + {args.vq_preset} VQ-VAE"

    rows = {}
    for name, fmt, constrained, cache in configs:
        rows[name] = measure(models[fmt], constrained, cache, args,
                             NO_GUIDANCE if name == CONFIGS[0][0] else args.guidance)
        print(f"{name:34s} " + "  ".join(f"{k}={v:.4g}" for k, v in rows[name].items()), flush=True)
    baseline = rows.get(CONFIGS[0][0])
    if baseline:
        for row in rows.values():
            row["latency_speedup_vs_original"] = baseline["latency_s_per_motion_batch1"] / \
                row["latency_s_per_motion_batch1"]
            row["throughput_ratio_vs_original"] = row["throughput_motions_per_s_batch"] / \
                baseline["throughput_motions_per_s_batch"]
            row["throughput_batch_vs_original_batch1"] = row["throughput_motions_per_s_batch"] * \
                baseline["latency_s_per_motion_batch1"]
    print(f"\n{'configuration':34s} {'latency s':>10s} {'motions/s':>10s} {'passes':>8s} {'x lat':>7s} {'x thr':>7s}")
    for name, r in rows.items():
        print(f"{name:34s} {r['latency_s_per_motion_batch1']:10.3f} {r['throughput_motions_per_s_batch']:10.2f} "
              f"{r['forward_passes_per_motion_batch1']:8.1f} {r.get('latency_speedup_vs_original', 1):7.2f} "
              f"{r.get('throughput_ratio_vs_original', 1):7.2f}")
    out = Path(__file__).resolve().parent / "results" / f"generation{'-' + args.name if args.name else ''}.json"
    write_json(out, {"model": source, "device": args.device, "torch_threads": torch.get_num_threads(),
                     "platform": platform.platform(), "python": sys.version.split()[0], "batch": args.batch,
                     "motions_batch1": args.motions, "max_codes": args.max_codes, "results": rows})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
