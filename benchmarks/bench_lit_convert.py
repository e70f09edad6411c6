"""Peak memory of `motiongpt convert lit-llama` on a base of LLaMA-13B's width, against the checkpoint's size.

Usage: python benchmarks/bench_lit_convert.py [--width 5120] [--layers 2] [--vocab 32000] [--dtype float32]
       [--out-dtype bfloat16] [--naive] [--work DIR]

Builds a random Lit-LLaMA checkpoint (13B's width, MLP width and vocabulary, a few layers) in one process, then
converts it in a fresh one and reads that process's peak resident memory (VmHWM). The converter streams row blocks,
so its peak does not grow with the number of layers: what a 2-layer checkpoint needs, a 40-layer one needs too.
--naive also converts the textbook way (torch.load of everything, then save_file) for comparison.
Prints and writes benchmarks/results/lit_convert.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

BUILD = """
import sys
sys.path.insert(0, sys.argv[6])
from bench_lit_convert import write_lit_checkpoint
print(write_lit_checkpoint(sys.argv[5], int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
"""


def write_lit_checkpoint(path: str | Path, width: int, layers: int, vocab: int, dtype: str = "float32",
                         device: str = "cpu") -> int:
    """A random base in Lit-LLaMA's layout (LLaMA's MLP width: 8d/3 rounded up to 256) saved by torch.save;
    returns its number of weights. Values are drawn on `device` (a GPU draws 13B's in seconds)."""
    import torch

    from motiongpt.llm.lit_llama import LitBaseShape

    torch_dtype = getattr(torch, dtype)
    shape = LitBaseShape(vocab, width, -(-int(2 * 4 * width / 3) // 256) * 256, layers)
    generator = torch.Generator(device).manual_seed(0)
    sd = {key: (torch.ones(dims, dtype=torch_dtype) if len(dims) == 1 else
                torch.empty(dims, dtype=torch_dtype, device=device).normal_(0, dims[-1] ** -0.5,
                                                                           generator=generator).cpu())
          for key, dims in shape.expected().items()}
    torch.save(sd, path)
    return sum(t.numel() for t in sd.values())


def write_lit_lora(path: str | Path, width: int, layers: int, rank: int = 64) -> None:
    """A random LoRA as the original saved it (q and v of c_attn, r `rank`), with its unused projections."""
    import torch

    generator = torch.Generator().manual_seed(1)
    sd = {"llama_proj.weight": torch.zeros(width, 512), "llama_proj.bias": torch.zeros(width),
          "motion_proj.weight": torch.zeros(512, width), "motion_proj.bias": torch.zeros(512)}
    for i in range(layers):
        p = f"transformer.h.{i}.attn.c_attn."
        sd[p + "lora_A"] = torch.randn(2 * rank, width, generator=generator) * width ** -0.5
        sd[p + "lora_B"] = torch.randn(2 * width, rank, generator=generator) * 0.01
    torch.save(sd, path)


MEASURE = """
import json, sys, time, torch
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
mode, checkpoint, out, dtype = sys.argv[1:5]
from motiongpt.llm.lit_llama import DTYPES, convert_base, meta_to_hf_rows
from safetensors.torch import save_file
baseline = rss("VmRSS")
started = time.perf_counter()
if mode == "stream":
    convert_base(checkpoint, out, dtype=DTYPES[dtype])
else:
    sd = torch.load(checkpoint, map_location="cpu", weights_only=True)
    d = sd["transformer.wte.weight"].shape[1]
    hf = {}
    for key, t in list(sd.items()):
        if key.endswith("c_attn.weight"):
            q, k, v = t.split(d)
            hf[key + ".q"], hf[key + ".k"] = meta_to_hf_rows(q, d // 128), meta_to_hf_rows(k, d // 128)
            hf[key + ".v"] = v
        else:
            hf[key] = t
    save_file({k: v.to(DTYPES[dtype]).contiguous() for k, v in hf.items()}, out + ".safetensors")
print(json.dumps({"seconds": time.perf_counter() - started, "peak_rss_bytes": rss("VmHWM"),
                  "baseline_rss_bytes": baseline}))
"""


def run(code: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"benchmark step failed:\n{done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def check_output(checkpoint: Path, out: Path, width: int) -> float:
    """Max |difference| between layer 1's converted q_proj and the checkpoint's q rows reordered by hand."""
    from safetensors import safe_open

    from motiongpt.llm.lit_llama import TorchArchive, meta_to_hf_rows

    index = json.loads((out / "model.safetensors.index.json").read_text())["weight_map"] \
        if (out / "model.safetensors.index.json").is_file() else None
    name = "model.layers.1.self_attn.q_proj.weight"
    with TorchArchive(checkpoint) as archive, \
            safe_open(str(out / (index[name] if index else "model.safetensors")), framework="pt") as f:
        source = archive.state_dict()["transformer.h.1.attn.c_attn.weight"].rows(0, width)
        converted = f.get_tensor(name)
    return (meta_to_hf_rows(source, width // 128).to(converted.dtype).float() - converted.float()).abs().max().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=5120)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--dtype", default="float32",
                        help="the checkpoint's dtype (Lit-LLaMA's converters wrote float32 by default)")
    parser.add_argument("--out-dtype", default="bfloat16")
    parser.add_argument("--naive", action="store_true", help="also measure torch.load + save_file")
    parser.add_argument("--work", type=Path, help="folder for the checkpoints (default: a temporary one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        checkpoint, out = Path(tmp) / "lit-llama.pth", Path(tmp) / "hf"
        started = time.perf_counter()
        params = int(run(BUILD, str(args.width), str(args.layers), str(args.vocab), args.dtype, str(checkpoint),
                         str(Path(__file__).resolve().parent)))
        build_seconds = time.perf_counter() - started
        stream = json.loads(run(MEASURE, "stream", str(checkpoint), str(out), args.out_dtype))
        checkpoint_bytes = checkpoint.stat().st_size
        output_bytes = sum(p.stat().st_size for p in out.iterdir() if p.suffix == ".safetensors")
        result = {
            "width": args.width, "layers": args.layers, "vocab": args.vocab, "params": params,
            "checkpoint_dtype": args.dtype, "output_dtype": args.out_dtype,
            "checkpoint_bytes": checkpoint_bytes, "output_bytes": output_bytes, "build_seconds": build_seconds,
            "convert_seconds": stream["seconds"], "peak_rss_bytes": stream["peak_rss_bytes"],
            "baseline_rss_bytes": stream["baseline_rss_bytes"],
            "peak_over_checkpoint": stream["peak_rss_bytes"] / checkpoint_bytes,
            "q_proj_max_abs_diff": check_output(checkpoint, out, args.width),
        }
        if args.naive:
            naive = json.loads(run(MEASURE, "naive", str(checkpoint), str(Path(tmp) / "naive"), args.out_dtype))
            result["naive"] = {**naive, "peak_over_checkpoint": naive["peak_rss_bytes"] / checkpoint_bytes}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lit_convert.json").write_text(json.dumps(result, indent=2) + "\n")
    gib = 1 << 30
    print(json.dumps(result, indent=2))
    print(f"checkpoint {checkpoint_bytes / gib:.2f} GiB ({params / 1e9:.2f} B params, {args.dtype}) -> "
          f"{output_bytes / gib:.2f} GiB {args.out_dtype} in {stream['seconds']:.1f} s; peak RSS "
          f"{stream['peak_rss_bytes'] / gib:.2f} GiB ({stream['baseline_rss_bytes'] / gib:.2f} GiB of it before the "
          f"conversion started) = {result['peak_over_checkpoint']:.2f} x the checkpoint"
          + (f"; naive torch.load + save_file: {result['naive']['peak_rss_bytes'] / gib:.2f} GiB = "
             f"{result['naive']['peak_over_checkpoint']:.2f} x" if args.naive else ""))


if __name__ == "__main__":
    main()
