"""CPU training tactics for a pretrained base, each measured in tokens/s and samples/s against the plain loop.

Usage: python benchmarks/bench_cpu_tactics.py DATA [--base smollm2-135m] [--steps 3] [--micro-batch 16]
DATA is a dataset in the HumanML3D layout (e.g. `motiongpt data bandai`); its train captions are used, with codes
from DATA/VQVAE if present, otherwise random codes of length floor(T/4) (only lengths matter for speed).

Every configuration trains LoRA r 64, alpha 16, dropout 0.05 on q_proj/v_proj with AdamW for one warm-up step and
`--steps` timed steps on the same records, the configurations taking turns step by step (round-robin), so that
load from other processes on a shared machine hits them alike. Each adds one tactic to the one before:
  plain         the Alpaca template, batches in random order, the LM head on every position, LoRA on every layer
  answer_logits + the head only where the loss is (llm/speed.py answer_losses)
  length_groups + batches of similar length (length_grouped_batches)
  upper_layers  + LoRA on the top `--upper` layers only, input embeddings detached, so backward stops there
  compact       + the compact prompt template
and `compact` again with the text answer format. Tokens are non-padding tokens in the batch, as `finetune` logs.
On a machine shared with other jobs, wall-clock rates swing with their load; the rates per CPU-second of this
process (times the thread count: `idle_tokens_per_s_estimate`) are the steadier comparison.
Prints and writes benchmarks/results/cpu_tactics.json.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from motiongpt.data.layout import load_captions, split_ids
from motiongpt.io import write_json
from motiongpt.llm.base import add_code_tokens, load_causal_lm, load_tokenizer
from motiongpt.llm.finetune import Example, collate, token_losses
from motiongpt.llm.formats import render_record
from motiongpt.llm.gguf import resolve_pretrained
from motiongpt.llm.instructions import motion_records
from motiongpt.llm.speed import answer_losses, length_grouped_batches, padding_share, upper_layers

CODEBOOK = 512
STAGES = [
    ("plain", dict()),
    ("answer_logits", dict(answer_logits=True)),
    ("length_groups", dict(answer_logits=True, grouped=True)),
    ("upper_layers", dict(answer_logits=True, grouped=True, upper=True)),
    ("compact", dict(answer_logits=True, grouped=True, upper=True, template="compact")),
    ("compact_text_format", dict(answer_logits=True, grouped=True, upper=True, template="compact", fmt="text")),
]


def records_of(data: Path, count: int, seed: int) -> list[dict]:
    """Instruction records of `count` random train motions: real captions, codes from VQVAE/ or random lengths."""
    rng = np.random.default_rng(seed)
    ids = split_ids(data, "train")
    records = []
    for motion_id in rng.choice(ids, size=min(count, len(ids)), replace=False):
        path = data / "VQVAE" / f"{motion_id}.npy"
        if path.is_file():
            codes = np.load(path).reshape(-1).tolist()
        else:
            frames = np.load(data / "new_joint_vecs" / f"{motion_id}.npy", mmap_mode="r").shape[0]
            codes = rng.integers(0, CODEBOOK, size=max(1, min(frames, 196) // 4)).tolist()
        captions = [c.text for c in load_captions(data, str(motion_id))][:1]
        records += motion_records(str(motion_id), codes, captions, random.Random(str(motion_id)))
    return records


def encode(records: list[dict], tokenizer, fmt: str, template: str) -> list[Example]:
    """BOS + prompt + answer + EOS, prompt and answer tokenised apart (finetune's encoding, in any template)."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    out = []
    for record in records:
        prompt, answer = (tokenizer(text, add_special_tokens=False)["input_ids"]
                          for text in render_record(record, fmt, template))
        out.append(Example(bos + prompt + answer + [tokenizer.eos_token_id], len(bos) + len(prompt)))
    return out


class Run:
    """One configuration: its model, optimiser and batches; `step` trains on the next batch and times it."""

    def __init__(self, base_dir: Path, records: list[dict], args, answer_logits: bool = False,
                 grouped: bool = False, upper: bool = False, template: str = "alpaca", fmt: str = "vocab"):
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(0)
        model = load_causal_lm(base_dir, dtype=torch.float32)
        self.tokenizer = load_tokenizer(base_dir)
        new_ids = add_code_tokens(model, self.tokenizer, CODEBOOK) if fmt == "vocab" else []
        model.config.use_cache = False
        self.layers = upper_layers(model, args.upper) if upper else None
        lora = LoraConfig(r=64, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"],
                          layers_to_transform=self.layers, task_type="CAUSAL_LM",
                          trainable_token_indices={"embed_tokens": new_ids} if new_ids else None)
        self.model = get_peft_model(model, lora).train()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=3e-3, weight_decay=0.01)
        self.examples = encode(records, self.tokenizer, fmt, template)
        self.lengths = [len(e.ids) for e in self.examples]
        n = args.micro_batch
        if grouped:
            self.batches = length_grouped_batches(self.lengths, n, seed=0, window=8)
        else:
            order = list(range(len(self.examples)))
            random.Random(0).shuffle(order)
            self.batches = [order[i:i + n] for i in range(0, len(order) - n + 1, n)]
        self.settings = {"format": fmt, "template": template, "answer_logits": answer_logits,
                         "length_grouped": grouped, "lora_layers": self.layers or "all"}
        self.answer_logits, self.upper = answer_logits, upper
        self.times: list[float] = []
        self.cpu_times: list[float] = []
        self.tokens = self.samples = self.done = 0

    def step(self, timed: bool) -> None:
        ids = self.batches[self.done]
        self.done += 1
        batch = collate([self.examples[i] for i in ids], self.tokenizer.pad_token_id, False)
        start, cpu_start = time.perf_counter(), time.process_time()
        if self.answer_logits:
            loss_sum, count, _ = answer_losses(self.model, batch["input_ids"], batch["attention_mask"],
                                               batch["labels"], detach_inputs=self.upper)
        else:
            logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            loss_sum, count, _ = token_losses(logits, batch["labels"])
        (loss_sum / count.clamp(min=1)).backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if timed:
            self.times.append(time.perf_counter() - start)
            self.cpu_times.append(time.process_time() - cpu_start)
            self.tokens += int(batch["attention_mask"].sum())
            self.samples += len(ids)

    def result(self) -> dict:
        wall, cpu = sum(self.times), sum(self.cpu_times)
        used = self.batches[1:self.done]
        threads = torch.get_num_threads()
        return {**self.settings, "tokens_per_s": self.tokens / wall, "samples_per_s": self.samples / wall,
                "tokens_per_cpu_s": self.tokens / cpu, "samples_per_cpu_s": self.samples / cpu,
                "idle_tokens_per_s_estimate": self.tokens / cpu * threads,
                "s_per_step_median": float(np.median(self.times)), "tokens_per_sample": self.tokens / self.samples,
                "padding_share": padding_share(self.lengths, used),
                "trainable_params": sum(p.numel() for p in self.params)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path)
    parser.add_argument("--base", default="smollm2-135m", help="a named base, a .gguf file or an HF dir")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--micro-batch", type=int, default=8)
    parser.add_argument("--upper", type=int, default=8, help="LoRA layers counted from the top")
    parser.add_argument("--motions", type=int, default=400)
    parser.add_argument("--only", nargs="*", help="run only these stages")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    base_dir = Path(args.base) if Path(args.base).is_dir() else resolve_pretrained(args.base)
    records = records_of(args.data, args.motions, seed=0)
    results: dict = {"base": args.base, "threads": torch.get_num_threads(), "micro_batch": args.micro_batch,
                     "timed_steps": args.steps, "records": len(records), "stages": {}}
    runs = {name: Run(base_dir, records, args, **settings) for name, settings in STAGES
            if not args.only or name in args.only}
    for round_ in range(args.steps + 1):  # round-robin, so that load from other processes hits every run alike
        for name, run in runs.items():
            run.step(timed=round_ > 0)
            print(f"round {round_} {name}: {run.times[-1] if run.times else 0:.1f} s", flush=True)
    for name, run in runs.items():
        results["stages"][name] = run.result()
    plain = results["stages"].get("plain")
    if plain:
        for stage in results["stages"].values():
            stage["samples_per_s_vs_plain"] = stage["samples_per_s"] / plain["samples_per_s"]
            stage["samples_per_cpu_s_vs_plain"] = stage["samples_per_cpu_s"] / plain["samples_per_cpu_s"]
    print(json.dumps(results, indent=2))
    write_json(Path(__file__).resolve().parent / "results" / "cpu_tactics.json", results)


if __name__ == "__main__":
    main()
