"""Encode/decode throughput (frames/s) and training speed (steps/s) of each VQ-VAE preset on this machine.

    python benchmarks/bench_tokenizer.py [--threads 2] [--frames 196] [--batch 16] [--train-batch 64]

Prints JSON and writes it to benchmarks/results/bench_tokenizer.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from motiongpt.io import write_json
from motiongpt.tokenizer import PRESETS, VQVAE, preset_config


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_preset(name: str, frames: int, batch: int, train_batch: int, repeats: int) -> dict:
    torch.manual_seed(0)
    model = VQVAE(preset_config(name)).train()
    model(torch.randn(8, 64, 263))  # initialise the codebook
    model.eval()
    x = torch.randn(batch, frames, 263)
    codes = model.encode(x)
    encode_s = best_of(lambda: model.encode(x), repeats)
    decode_s = best_of(lambda: model.decode(codes), repeats)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4, betas=(0.9, 0.99))
    windows = torch.randn(train_batch, 64, 263)

    def step():
        optimizer.zero_grad()
        model.loss(windows)["loss"].backward()
        optimizer.step()

    step_s = best_of(step, repeats)
    return {"parameters": sum(p.numel() for p in model.parameters()), **PRESETS[name],
            "encode_frames_per_s": batch * frames / encode_s, "decode_frames_per_s": batch * frames / decode_s,
            "train_steps_per_s": 1 / step_s, "train_batch": train_batch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=196)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--train-batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
              "threads": args.threads, "frames": args.frames, "batch": args.batch,
              "presets": {name: bench_preset(name, args.frames, args.batch, args.train_batch, args.repeats)
                          for name in PRESETS}}
    print(json.dumps(result, indent=2))
    write_json(Path(__file__).parent / "results" / "bench_tokenizer.json", result)


if __name__ == "__main__":
    main()
