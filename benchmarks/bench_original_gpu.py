"""GPU memory and speed of the original MotionGPT's model at LLaMA-13B size, in bfloat16 and in 4-bit NF4.

Usage: python benchmarks/bench_original_gpu.py [--layers 8] [--work DIR] [--results FILE] [--skip-full]

1. The whole path at 13B's width (5120, 40 heads, MLP 13824, vocabulary 32000) with --layers blocks: a random
   Lit-LLaMA base (bfloat16) and an r-64 LoRA -> `convert lit-llama` / `convert lit-lora` -> `assemble` with a
   T2M-size VQ-VAE saved as an original .pth -> `MotionGPT.from_pretrained` on the GPU in bfloat16 and with
   `load_in_4bit` -> one constrained generation each: weights memory, peak memory, tokens/s.
2. Unless --skip-full: a 40-layer LLaMA-13B-shaped model built on the GPU in bfloat16 (random weights) inside
   MotionGPT: the real 13B weights memory, and the peak and speed of generating 1 and 8 motions.
The tokenizer is the bundled model's (digits one by one, like LLaMA's). Needs CUDA (and bitsandbytes for 4-bit).
Writes the results after each stage to --results (default benchmarks/results/original_gpu.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lit_convert import write_lit_checkpoint, write_lit_lora  # noqa: E402

from motiongpt.generation.models import BUNDLED_MODEL  # noqa: E402
from motiongpt.generation.pipeline import MotionGPT, assemble  # noqa: E402
from motiongpt.llm.base import load_tokenizer  # noqa: E402
from motiongpt.llm.lit_llama import convert_base, convert_lora  # noqa: E402
from motiongpt.tokenizer import VQVAE, VQVAEConfig  # noqa: E402

WIDTH, HEADS, VOCAB = 5120, 40, 32000
DEVICE = "cuda"
KEYS = [5, 17, 42, 99, 300, 411]  # keep constrained decoding going for a realistic answer length
GIB = 1 << 30


def original_vq(path: Path, stats: Path) -> None:
    """A T2M-size VQ-VAE (512 codes) saved as the original did, and Mean/Std as a T2M-GPT meta/ folder."""
    sd = {f"vqvae.{k}": v for k, v in VQVAE(VQVAEConfig()).state_dict().items()
          if not k.startswith(("quantizer.code_", "quantizer.initialised"))}
    torch.save({"net": sd}, path)
    stats.mkdir()
    np.save(stats / "mean.npy", np.zeros(263, np.float32))
    np.save(stats / "std.npy", np.ones(263, np.float32))


def measure(model: MotionGPT, num_samples: int = 1) -> dict:
    """Peak GPU memory and speed of one `generate` call (the weights are already on the GPU)."""
    torch.cuda.synchronize()
    weights = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    model.stats = {k: 0 for k in model.stats}
    started = time.perf_counter()
    results = model.generate("a person walks forward.", key_tokens=KEYS, num_samples=num_samples, seed=0)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return {"weights_gib": weights / GIB, "peak_gib": torch.cuda.max_memory_allocated() / GIB,
            "seconds": seconds, "samples": num_samples, "codes": [len(r.codes) for r in results],
            "tokens_per_s_per_row": model.stats["generated_tokens"] / num_samples / seconds,
            "satisfied": all(r.satisfies_controls for r in results)}


def release() -> None:
    import gc

    gc.collect()
    torch.cuda.empty_cache()


def pipeline_stage(work: Path, layers: int, out: dict, save) -> None:
    started = time.perf_counter()
    write_lit_checkpoint(work / "lit-llama.pth", WIDTH, layers, VOCAB, "bfloat16", device=DEVICE)
    write_lit_lora(work / "pretrained.pth", WIDTH, layers, rank=64)
    original_vq(work / "t2m.pth", work / "meta")
    convert_base(work / "lit-llama.pth", work / "hf")
    load_tokenizer(BUNDLED_MODEL / "llm").save_pretrained(str(work / "hf"))
    convert_lora(work / "pretrained.pth", work / "hf", work / "adapter")
    assemble(work / "t2m.pth", None, work / "model", base=work / "hf", adapter=work / "adapter",
             stats=work / "meta")
    stage = {"layers": layers, "checkpoint_gib": (work / "lit-llama.pth").stat().st_size / GIB,
             "prepare_seconds": time.perf_counter() - started}
    out["pipeline"] = stage
    for name, kwargs in (("bfloat16", {"dtype": torch.bfloat16}), ("nf4", {"load_in_4bit": True})):
        release()
        loaded = time.perf_counter()
        try:
            model = MotionGPT.from_pretrained(work / "model", device=DEVICE, **kwargs)
        except Exception as err:  # report what failed (no bitsandbytes, say) and go on
            stage[name] = {"error": f"{type(err).__name__}: {err}"}
            save()
            continue
        stage[name] = {"load_seconds": time.perf_counter() - loaded, **measure(model)}
        del model
        save()


def full_stage(out: dict, save) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    release()
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=WIDTH, intermediate_size=13824, num_hidden_layers=40,
                         num_attention_heads=HEADS, num_key_value_heads=HEADS, rms_norm_eps=1e-5,
                         max_position_embeddings=2048, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(DEVICE):
            llm = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    vq = VQVAE(VQVAEConfig(), mean=np.zeros(263, np.float32), std=np.ones(263, np.float32)).to(DEVICE)
    model = MotionGPT(vq.eval(), llm, load_tokenizer(BUNDLED_MODEL / "llm"), "text", answer_follows_prompt=True)
    params = sum(p.numel() for p in llm.parameters())
    out["llama13b_bf16"] = {"params": params, "one": measure(model)}
    save()
    out["llama13b_bf16"]["eight"] = measure(model, num_samples=8)
    save()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=8, help="blocks of the converted model in stage 1")
    parser.add_argument("--work", type=Path, help="folder for the checkpoints (default: a temporary one)")
    parser.add_argument("--results", type=Path,
                        default=Path(__file__).resolve().parent / "results" / "original_gpu.json")
    parser.add_argument("--skip-full", action="store_true", help="no 40-layer stage")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("this benchmark needs a CUDA GPU")
    out = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__}

    def save() -> None:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(out, indent=2) + "\n")

    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        pipeline_stage(Path(tmp), args.layers, out, save)
    if not args.skip_full:
        full_stage(out, save)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
