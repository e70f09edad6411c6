"""LLM stage: tokens per motion in both answer formats, and full-finetuning throughput of a built-in base.

Usage: python benchmarks/bench_llm.py DATA [--base small] [--steps 4] [--grad-accum 16]
DATA is a dataset in HumanML3D layout. Codes are taken from DATA/VQVAE if present, otherwise random codes of
length floor(T/4) stand in (only lengths matter for speed). Prints and writes benchmarks/results/llm.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from motiongpt.data.layout import split_ids
from motiongpt.llm.base import BASES
from motiongpt.llm.finetune import FinetuneConfig, encode_records, finetune
from motiongpt.llm.finetuned import load_finetuned
from motiongpt.llm.formats import build_prompt, parse_codes
from motiongpt.llm.instructions import build_instructions, save_instructions
from motiongpt.llm.tasks import Task


def with_codes(data: Path, work: Path, codebook: int) -> Path:
    if (data / "VQVAE").is_dir():
        return data
    root = work / "data"
    (root / "VQVAE").mkdir(parents=True)
    (root / "texts").symlink_to((data / "texts").resolve())
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        shutil.copy(data / f"{split}.txt", root / f"{split}.txt")
        for motion_id in split_ids(data, split):
            frames = np.load(data / "new_joint_vecs" / f"{motion_id}.npy", mmap_mode="r").shape[0]
            np.save(root / "VQVAE" / f"{motion_id}.npy", rng.integers(0, codebook, size=max(1, min(frames, 196) // 4)))
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--base", default="small", choices=list(BASES))
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--grad-accum", type=int, default=16)
    parser.add_argument("--codebook-size", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    results: dict = {"base": args.base, "config": BASES[args.base][0], "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = with_codes(Path(args.data), work, args.codebook_size)
        splits = build_instructions(data, codebook_size=args.codebook_size)
        save_instructions(work / "instructions", splits, {"codebook_size": args.codebook_size})
        results["records"] = {k: len(v) for k, v in splits.items()}
        for fmt in ("text", "vocab"):
            out = work / f"run-{fmt}"
            start = time.perf_counter()
            run = finetune(FinetuneConfig(instructions=str(work / "instructions"), base=args.base, out=str(out),
                                          format=fmt, full=True, steps=args.steps, micro_batch=args.micro_batch,
                                          grad_accum=args.grad_accum, val_every=args.steps, val_batches=4))
            wall = time.perf_counter() - start
            logs = [entry for entry in run.log() if "loss" in entry]
            examples, _ = encode_records(splits["train"], run.tokenizer, fmt, 10_000)
            answers = [len(e.ids) - e.n_prompt for e in examples]
            tokens_per_s = float(np.median([log["tokens_per_s"] for log in logs]))
            epoch_tokens = sum(len(e.ids) for e in examples)
            # generation: one motion of median length, greedy, KV cache, batch 1
            model, tokenizer, _ = load_finetuned(out)
            prompt = build_prompt(Task.TEXT.instruction, "a man takes a bow, looking energetic.", None, fmt)
            ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
            n_new = int(np.median(answers))
            with torch.no_grad():
                model.generate(ids, max_new_tokens=4, min_new_tokens=4, do_sample=False)
                start = time.perf_counter()
                gen = model.generate(ids, max_new_tokens=n_new, min_new_tokens=n_new, do_sample=False)
                gen_s = time.perf_counter() - start
            parse_codes(tokenizer.decode(gen[0, ids.shape[1]:]), fmt, args.codebook_size)
            results[fmt] = {
                "answer_tokens_per_motion_mean": float(np.mean(answers)),
                "codes_per_motion_mean": float(np.mean([len(r["output"].split(",")) for r in splits["train"]])),
                "record_tokens_mean": float(np.mean([len(e.ids) for e in examples])),
                "vocab_size": len(run.tokenizer),
                "params": sum(p.numel() for p in run.model.parameters()),
                "train_tokens_per_s": tokens_per_s,
                "epoch_tokens": epoch_tokens,
                "epoch_minutes_estimate": epoch_tokens / tokens_per_s / 60,
                "wall_s": wall,
                "generate_s_median_motion": gen_s,
                "generated_tokens": n_new,
                "first_loss": logs[0]["loss"],
                "last_loss": logs[-1]["loss"],
            }
    print(json.dumps(results, indent=2))
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "llm.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
