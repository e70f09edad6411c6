"""Generation speed and memory of a pretrained base (SmolLM2-135M + LoRA r 64 on q/v) on the CPU, per decoding
tactic, against transformers' model with its full head in the same run.

    python benchmarks/bench_pretrained_inference.py                 # smollm2-135m, both answer formats
    python benchmarks/bench_pretrained_inference.py --model DIR     # a model dir made with `motiongpt assemble`

Tactics (each row adds to the one before; every row runs in its own process, so its peak RSS is its own):
    hf            LlamaForCausalLM with the adapter merged, all 49k logits per step (the baseline)
    lite+rows     the same weights in `llm.lite.LiteLlama`, only the answer's token rows of the head
    bf16          + bfloat16 weights
    int8          + dynamic int8 linear maps in the layers (float32 elsewhere)

Every answer is forced to 49 codes (`frames=196` through the constrained decoder), the worst case, so that an
untrained adapter and a trained one run the same number of steps. Targets of issue #13 on a 2-core CPU: at most
0.5 s per motion at batch 1, 100 ms per motion at batch 32, 1.2 GB peak RSS. Prints a table and writes
benchmarks/results/pretrained_inference[-NAME].json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

TACTICS = ("hf", "lite+rows", "bf16", "int8")
CAPTIONS = ["a person walks forward.", "a man jumps up and down.", "someone waves with the right hand.",
            "a person kicks with the left leg.", "someone bows politely.", "a person runs in a circle."]


def build(fmt: str, tactic: str, model_dir: Path | None):
    """The MotionGPT of one row: a model dir, or the bundled VQ-VAE + SmolLM2 with a fresh LoRA adapter."""
    from motiongpt.generation.pipeline import MotionGPT, model_parts
    from motiongpt.llm.lite import lite_from_hf

    dtype = torch.bfloat16 if tactic == "bf16" else None
    if model_dir is not None:
        if tactic == "hf":
            from motiongpt.generation.pipeline import llm_guidance
            from motiongpt.llm.finetuned import load_finetuned
            from motiongpt.tokenizer import VQVAE

            parts = model_parts(model_dir)
            llm, tokenizer, meta = load_finetuned(parts["llm"], merge=True)
            return MotionGPT(VQVAE.from_pretrained(parts["vq"]), llm, tokenizer, meta["format"],
                             guidance=llm_guidance(meta, parts["llm"]))  # as from_pretrained samples the others
        return MotionGPT.from_pretrained(model_dir, dtype=dtype, quantize="int8" if tactic == "int8" else None)
    from peft import LoraConfig, get_peft_model

    from motiongpt.llm.base import add_code_tokens, load_causal_lm, load_tokenizer
    from motiongpt.llm.gguf import resolve_pretrained
    from motiongpt.tokenizer import VQVAE

    base = resolve_pretrained("smollm2-135m")
    torch.manual_seed(0)
    llm, tokenizer = load_causal_lm(base, dtype=torch.float32), load_tokenizer(base)
    vq = VQVAE.from_pretrained(model_parts(None)["vq"])
    if fmt == "vocab":
        add_code_tokens(llm, tokenizer, vq.config.codebook_size)
    llm = get_peft_model(llm, LoraConfig(r=64, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                         init_lora_weights=False)).merge_and_unload()
    if tactic != "hf":
        llm = lite_from_hf(llm.to(dtype or torch.float32))  # rotary frequencies stay float32
        if tactic == "int8":
            llm.quantize_int8()
    return MotionGPT(vq, llm, tokenizer, fmt)


def measure(fmt: str, tactic: str, model_dir: Path | None, motions: int, batch: int) -> dict:
    began = time.perf_counter()
    model = build(fmt, tactic, model_dir)
    load_s = time.perf_counter() - began
    # decoding alone: no new samples for a side the joints do not show, no rigid fit (both per motion, not per token)
    kwargs = dict(frames=196, temperature=1.0, check_retries=0, rigid_bones=False)
    model.generate(CAPTIONS[0], seed=0, **{**kwargs, "frames": 8})  # warm-up
    began = time.perf_counter()
    single = [model.generate(CAPTIONS[i % len(CAPTIONS)], seed=i, batch_size=1, **kwargs)[0] for i in range(motions)]
    latency = (time.perf_counter() - began) / motions
    texts = [CAPTIONS[i % len(CAPTIONS)] for i in range(batch)]
    began = time.perf_counter()
    batched = model.generate(texts, seed=1000, batch_size=batch, **kwargs)
    per_motion = (time.perf_counter() - began) / batch
    return {"format": model.fmt, "tactic": tactic, "load_s": load_s, "s_per_motion_batch1": latency,
            f"s_per_motion_batch{batch}": per_motion, "codes_per_motion": len(batched[0].codes),
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
            "first_codes": single[0].codes[:8]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a model dir (one format); default: SmolLM2 + fresh LoRA")
    parser.add_argument("--formats", default="vocab,text")
    parser.add_argument("--tactics", default=",".join(TACTICS))
    parser.add_argument("--motions", type=int, default=3, help="motions generated one by one for the latency")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default=None, help="suffix of the results file")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # FORMAT:TACTIC, run in a child process
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.one:
        fmt, tactic = args.one.split(":")
        print(json.dumps(measure(fmt, tactic, args.model, args.motions, args.batch)))
        return

    formats = ["model"] if args.model else args.formats.split(",")
    rows = []
    for fmt in formats:
        for tactic in args.tactics.split(","):
            command = [sys.executable, __file__, "--one", f"{fmt}:{tactic}", "--motions", str(args.motions),
                       "--batch", str(args.batch), "--threads", str(args.threads)]
            command += ["--model", str(args.model)] if args.model else []
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{fmt}:{tactic} failed:\n{done.stderr[-2000:]}")
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{row['format']:6s} {tactic:10s} load {row['load_s']:5.1f} s  batch 1 "
                  f"{row['s_per_motion_batch1']:6.3f} s/motion  batch {args.batch} "
                  f"{row[f's_per_motion_batch{args.batch}']:6.3f} s/motion  peak RSS {row['peak_rss_gb']:.2f} GB",
                  flush=True)
    for row in rows:
        baseline = next(r for r in rows if r["format"] == row["format"] and r["tactic"] == "hf")
        for key in ("s_per_motion_batch1", f"s_per_motion_batch{args.batch}"):
            row[f"{key}_speedup_vs_hf"] = baseline[key] / row[key]
    from motiongpt.io import write_json

    out = Path(__file__).resolve().parent / "results" / \
        f"pretrained_inference{'-' + args.name if args.name else ''}.json"
    write_json(out, {"model": str(args.model or "smollm2-135m + fresh LoRA r 64"), "threads": args.threads,
                     "platform": platform.platform(), "python": sys.version.split()[0], "batch": args.batch,
                     "targets": {"s_per_motion_batch1": 0.5, "s_per_motion_batch32": 0.1, "peak_rss_gb": 1.2},
                     "results": rows})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
