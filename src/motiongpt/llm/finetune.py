"""Instruction finetuning of a causal LM on motion codes: LoRA (PEFT) with the paper's settings, or full.

The paper's recipe (MotionGPT `finetune_motion.py`): LoRA r=64, alpha=16, dropout 0.05 on the query and value
projections; AdamW lr 3e-3, weight decay 0.01; micro-batches of 4 accumulated to 256; linear warm-up over 100
optimiser steps then constant; bf16; about 150k samples in all (586 optimiser steps); val loss every 100 steps.
The original puts the loss on prompt and answer; here the loss is on the answer only unless `loss_on_prompt`.

Runs on one device or under `accelerate launch` (DDP, one replica per process). A run is resumable exactly:
`<out>/checkpoint/` holds the trainable weights, optimiser, scheduler, every process's RNG state and the step,
and the data order is a function of (seed, step, process count), so rerunning the same command continues bit for
bit. Ctrl-C (single process) stops after the current optimiser step and checkpoints it; rerunning a finished run
leaves its output as it is.

LLaMA-7B/13B on GPUs: LoRA fits one 24-80 GB GPU with `--bf16 --gradient-checkpointing` (add `--load-in-4bit`
for QLoRA on smaller cards). For several GPUs use `accelerate launch --multi_gpu --num_processes N -m motiongpt
finetune ...` (DDP). Full finetuning of 7B+ needs FSDP: `accelerate config` with FSDP, `fsdp_use_orig_params: true`
(PEFT's trainable tokens need it too) and a full-state-dict save; the resume checkpoints here gather the full
trainable state on rank 0, which FSDP supports but this project has not tested.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from motiongpt.errors import MotionGPTError
from motiongpt.io import (StopRequest, atomic_directory, check_resume, dir_hash, read_json, rng_state,
                          save_torch, seed_everything, set_rng_state, write_json, write_text)
from motiongpt.llm.base import (BASES, add_code_tokens, build_base, load_causal_lm, load_tokenizer, nf4_config,
                               require_4bit)
from motiongpt.llm.finetuned import META_NAME
from motiongpt.llm.formats import check_format, render_record
from motiongpt.llm.instructions import codebook_size_from_vq, load_instructions, max_code
from motiongpt.training import CHECKPOINT_DIR, LOG_NAME

BASE_DIR = "base"
IGNORE = -100
PAPER_SAMPLES = 150_000  # 37,500 micro-batches of 4 in the original
# settings that may change when a run resumes from its checkpoint (every other one must match)
RESUMABLE_CHANGES = ("instructions", "out", "vq", "epochs", "steps", "gradient_checkpointing", "val_every",
                     "val_batches", "save_every")


@dataclass
class FinetuneConfig:
    instructions: str
    base: str
    out: str
    format: str = "text"
    full: bool = False
    lora_r: int = 64
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    lr: float | None = None  # 3e-3 (paper) for LoRA, 5e-4 for full
    warmup: int = 100
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    epochs: float | None = None
    steps: int | None = None  # optimiser steps; default: the paper's 150k samples
    micro_batch: int = 4
    grad_accum: int = 64
    loss_on_prompt: bool = False
    bf16: bool | None = None  # None: where the GPU supports it
    gradient_checkpointing: bool = False
    load_in_4bit: bool = False
    val_every: int = 100
    val_batches: int = 100
    save_every: int | None = None  # default: val_every
    seed: int = 1337
    max_seq_len: int = 512
    vq: str | None = None
    codebook_size: int | None = None

    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (5e-4 if self.full else 3e-3)


@dataclass
class Example:
    ids: list[int]
    n_prompt: int  # BOS + prompt tokens; the answer and EOS follow


def encode_records(records: list[dict], tokenizer, fmt: str, max_seq_len: int) -> tuple[list[Example], int]:
    """Examples from records (prompt and answer tokenised apart, as at generation); also how many were too long."""
    pairs = [render_record(r, fmt) for r in records]
    prompts = tokenizer([p for p, _ in pairs], add_special_tokens=False)["input_ids"]
    answers = tokenizer([a for _, a in pairs], add_special_tokens=False)["input_ids"]
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    examples, dropped = [], 0
    for prompt, answer in zip(prompts, answers):
        ids = bos + prompt + answer + [tokenizer.eos_token_id]
        if len(ids) > max_seq_len:
            dropped += 1
            continue
        examples.append(Example(ids, len(bos) + len(prompt)))
    return examples, dropped


def collate(examples: list[Example], pad_id: int, loss_on_prompt: bool) -> dict[str, torch.Tensor]:
    """Right-padded batch; `labels` for training, `answer_labels` (answer + EOS only) for validation."""
    width = max(len(e.ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    answer = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for i, e in enumerate(examples):
        ids[i, :len(e.ids)] = torch.tensor(e.ids)
        mask[i, :len(e.ids)] = 1
        answer[i, e.n_prompt:len(e.ids)] = ids[i, e.n_prompt:len(e.ids)]
    labels = torch.where(mask.bool(), ids, IGNORE) if loss_on_prompt else answer
    return {"input_ids": ids, "attention_mask": mask, "labels": labels, "answer_labels": answer}


def token_losses(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(summed next-token CE, number of labelled tokens, number predicted right)."""
    logits, labels = logits[:, :-1].float(), labels[:, 1:]
    keep = labels != IGNORE
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE,
                           reduction="sum")
    correct = ((logits.argmax(-1) == labels) & keep).sum()
    return loss, keep.sum(), correct


def sample_indices(n: int, seed: int, start: int, count: int) -> list[int]:
    """Positions `start..start+count` of an endless stream of seeded per-epoch permutations of range(n)."""
    out = []
    while count > 0:
        epoch, offset = divmod(start, n)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)).tolist()
        take = perm[offset:offset + count]
        out += take
        start += len(take)
        count -= len(take)
    return out


def _module_name(model: torch.nn.Module, module: torch.nn.Module) -> str:
    return next(name for name, m in model.named_modules() if m is module).split(".")[-1]


def _resolve_codebook_size(config: FinetuneConfig, info: dict, train: list[dict]) -> int:
    if config.codebook_size:
        return config.codebook_size
    if config.vq:
        return codebook_size_from_vq(config.vq)
    if info.get("codebook_size"):
        return int(info["codebook_size"])
    return max_code(train) + 1


def _prepare_base(config: FinetuneConfig, out: Path, train: list[dict], accelerator) -> tuple[Path, str]:
    """The base model dir: `--base PATH` as is, or a built-in size built once into `<out>/base`."""
    if config.base not in BASES:
        return Path(config.base).resolve(), str(Path(config.base).resolve())
    base_dir = out / BASE_DIR
    if accelerator.is_main_process and not (base_dir / "config.json").is_file():
        texts = [p for p, _ in (render_record(r, "text") for r in train)]
        model, tokenizer = build_base(config.base, texts, config.seed)
        with atomic_directory(base_dir, overwrite=True) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
    accelerator.wait_for_everyone()
    return base_dir, BASE_DIR


def _load_model(config: FinetuneConfig, base_dir: Path, bf16: bool, accelerator):
    kwargs = {}
    if config.load_in_4bit:
        kwargs["quantization_config"] = nf4_config(torch.bfloat16 if bf16 else torch.float32)
        kwargs["device_map"] = {"": accelerator.device}
    elif bf16 and not config.full:
        kwargs["dtype"] = torch.bfloat16  # frozen base in bf16; PEFT keeps the adapters in float32
    else:
        kwargs["dtype"] = torch.float32
    model = load_causal_lm(base_dir, **kwargs)
    tokenizer = load_tokenizer(base_dir)
    return model, tokenizer


def _wrap_model(config: FinetuneConfig, model, new_ids: list[int]):
    """Freeze the base and add LoRA (and trainable rows for added tokens), or train everything with `full`."""
    model.config.use_cache = False
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if config.full:
        return model
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    if config.load_in_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
    token_indices = None
    if new_ids:
        embed, head = model.get_input_embeddings(), model.get_output_embeddings()
        token_indices = {_module_name(model, embed): new_ids}
        if head is not None and head.weight is not embed.weight:
            token_indices[_module_name(model, head)] = new_ids
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.lora_targets), task_type="CAUSAL_LM",
                      trainable_token_indices=token_indices)
    try:
        return get_peft_model(model, lora)
    except ValueError as err:
        raise MotionGPTError(f"--lora-targets {','.join(config.lora_targets)}: {str(err).splitlines()[0]}") from err


def _trainable_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().float().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def _read_log(path: Path, step: int) -> list[str]:
    """The log's lines up to `step`; a torn last line (the process was killed while appending) is dropped."""
    lines = path.read_text().splitlines() if path.is_file() else []
    kept = []
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as err:
            if number == len(lines):
                break
            raise MotionGPTError(f"{path}:{number}: invalid JSON ({err.msg}); delete the line to resume") from err
        if entry.get("step", 0) <= step:
            kept.append(line)
    return kept


def _evaluate(model, batches: list[dict], accelerator, rank: int, world: int) -> tuple[float, float]:
    """Answer-only loss and next-token accuracy on the val batches (split over processes)."""
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64, device=accelerator.device)
    with torch.no_grad():
        for batch in batches[rank::world]:
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            with accelerator.autocast():
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            loss, count, correct = token_losses(logits, batch["answer_labels"])
            totals += torch.stack([loss.double(), count.double(), correct.double()])
    totals = accelerator.reduce(totals, reduction="sum")
    model.train()
    return (totals[0] / totals[1].clamp(min=1)).item(), (totals[2] / totals[1].clamp(min=1)).item()


@dataclass
class Finetuned:
    out: Path
    model: torch.nn.Module  # the trained model (PEFT-wrapped for LoRA), in eval mode
    tokenizer: object


def finetune(config: FinetuneConfig, callback: Callable[[int, dict], None] | None = None) -> Finetuned:
    """Train and save into `config.out`. `callback(step, logs)` runs after each optimiser step (progress, stopping)."""
    from accelerate import Accelerator
    from accelerate.utils import gather_object

    check_format(config.format)
    if config.load_in_4bit:
        if config.full:
            raise MotionGPTError("--load-in-4bit trains LoRA adapters on a frozen 4-bit base; drop --full")
        require_4bit()
    out = Path(config.out)
    train_records, val_records, info = load_instructions(config.instructions)
    if not train_records or not val_records:
        raise MotionGPTError(f"{config.instructions}: needs train and val records (train {len(train_records)}, "
                             f"val {len(val_records)})")
    if config.base not in BASES and not Path(config.base).is_dir():
        raise MotionGPTError(f"{config.base}: not a model dir nor one of {', '.join(BASES)}")
    codebook_size = _resolve_codebook_size(config, info, train_records)
    bf16 = config.bf16 if config.bf16 is not None else bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    # several processes without CUDA (`accelerate launch --multi_gpu` = torchrun on a CPU box): DDP over gloo
    on_cpu = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    accelerator = Accelerator(mixed_precision="bf16" if bf16 else "no", cpu=on_cpu)
    rank, world = accelerator.process_index, accelerator.num_processes
    base_dir, base_ref = _prepare_base(config, out, train_records, accelerator)
    seed_everything(config.seed)  # after the base, which a rerun finds built: later draws must not depend on that
    model, tokenizer = _load_model(config, base_dir, bf16, accelerator)
    new_ids = add_code_tokens(model, tokenizer, codebook_size) if config.format == "vocab" else []
    model = _wrap_model(config, model, new_ids)

    train, dropped = encode_records(train_records, tokenizer, config.format, config.max_seq_len)
    val, val_dropped = encode_records(val_records, tokenizer, config.format, config.max_seq_len)
    if not train or not val:
        raise MotionGPTError(f"{config.instructions}: every record is longer than --max-seq-len {config.max_seq_len}")
    per_step = config.micro_batch * config.grad_accum * world
    if config.steps:
        total_steps = config.steps
    else:
        samples = config.epochs * len(train) if config.epochs else PAPER_SAMPLES
        total_steps = max(1, math.ceil(samples / per_step))
    val_batches = [collate(val[i:i + config.micro_batch], tokenizer.pad_token_id, config.loss_on_prompt)
                   for i in range(0, min(len(val), config.val_batches * config.micro_batch), config.micro_batch)]

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate(), weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / max(1, config.warmup)))
    model, optimizer = accelerator.prepare(model, optimizer)
    unwrapped = accelerator.unwrap_model(model)

    step, checkpoint, val_loss, val_acc = 0, out / CHECKPOINT_DIR, None, None
    if (checkpoint / "state.json").is_file():
        state = read_json(checkpoint / "state.json")
        check_resume({"num_processes": 1, **state["config"], **state.get("run", {})},
                     {**asdict(config), "num_processes": world}, checkpoint, ignore=RESUMABLE_CHANGES)
        missing = set(_trainable_state(unwrapped)) - set(load_file(str(checkpoint / "trainable.safetensors")))
        if missing:
            raise MotionGPTError(f"{checkpoint}: trainable weights missing {sorted(missing)[0]} (a different model?)")
        unwrapped.load_state_dict(load_file(str(checkpoint / "trainable.safetensors")), strict=False)
        torch_state = torch.load(checkpoint / "optim.pt", map_location="cpu", weights_only=False)
        optimizer.load_state_dict(torch_state["optimizer"])
        scheduler.load_state_dict(torch_state["scheduler"])
        set_rng_state(torch.load(checkpoint / f"rng-{rank}.pt", weights_only=False))
        step = state["step"]
        if step >= total_steps and (out / META_NAME).is_file():
            if accelerator.is_main_process:
                tqdm.write(f"motiongpt: {out} is complete ({step} of {total_steps} steps); nothing to do")
            return Finetuned(out, unwrapped.eval(), tokenizer)

    log_path = out / LOG_NAME
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        kept = _read_log(log_path, step) if step else []  # a fresh start logs step 0 again
        write_text(log_path, "".join(line + "\n" for line in kept))
        if dropped or val_dropped:
            tqdm.write(f"motiongpt: {dropped} train and {val_dropped} val records longer than "
                       f"--max-seq-len {config.max_seq_len} were left out")

    def save_checkpoint() -> None:
        rng = gather_object([rng_state()])
        if accelerator.is_main_process:
            with atomic_directory(checkpoint, overwrite=True) as tmp:
                save_file(_trainable_state(unwrapped), str(tmp / "trainable.safetensors"))
                save_torch(tmp / "optim.pt", {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()})
                for r, s in enumerate(rng):
                    save_torch(tmp / f"rng-{r}.pt", s)
                write_json(tmp / "state.json", {"step": step, "config": asdict(config),
                                                "run": {"num_processes": world}})
        accelerator.wait_for_everyone()

    save_every = config.save_every or config.val_every
    if step == 0:
        val_loss, val_acc = _evaluate(model, val_batches, accelerator, rank, world)
        if accelerator.is_main_process:
            with open(log_path, "a") as f:
                f.write(json.dumps({"step": 0, "val_loss": val_loss, "val_acc": val_acc}) + "\n")
    model.train()
    bar = tqdm(total=total_steps, initial=step, desc="finetune", disable=not accelerator.is_main_process)
    with StopRequest(enabled=world == 1) as stop:
        while step < total_steps:
            started = time.perf_counter()
            step_loss = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
            for micro in range(config.grad_accum):
                first = ((step * config.grad_accum + micro) * world + rank) * config.micro_batch
                picks = sample_indices(len(train), config.seed, first, config.micro_batch)
                batch = collate([train[i] for i in picks], tokenizer.pad_token_id, config.loss_on_prompt)
                batch = {k: v.to(accelerator.device) for k, v in batch.items()}
                sync = micro == config.grad_accum - 1
                with accelerator.no_sync(model) if not sync else contextlib.nullcontext():
                    with accelerator.autocast():
                        logits = model(input_ids=batch["input_ids"],
                                       attention_mask=batch["attention_mask"]).logits
                    loss_sum, count, _ = token_losses(logits, batch["labels"])
                    loss = loss_sum / count.clamp(min=1)
                    accelerator.backward(loss / config.grad_accum)
                step_loss += torch.stack([loss.detach().double(), batch["attention_mask"].sum().double()])
            if config.max_grad_norm > 0:
                accelerator.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            step_loss = accelerator.reduce(step_loss, reduction="sum")
            logs = {"step": step, "loss": step_loss[0].item() / (config.grad_accum * world),
                    "lr": scheduler.get_last_lr()[0],
                    "tokens_per_s": step_loss[1].item() / max(time.perf_counter() - started, 1e-9)}
            if step % config.val_every == 0 or step == total_steps:
                val_loss, val_acc = _evaluate(model, val_batches, accelerator, rank, world)
                logs.update(val_loss=val_loss, val_acc=val_acc)
            if step % save_every == 0 or step == total_steps:
                save_checkpoint()
            if accelerator.is_main_process:
                with open(log_path, "a") as f:
                    f.write(json.dumps(logs) + "\n")
                bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if k != "step"})
                bar.update(1)
            if callback is not None:
                callback(step, logs)
            if stop.requested:
                if step % save_every != 0 and step != total_steps:
                    save_checkpoint()
                bar.close()
                raise KeyboardInterrupt
    bar.close()

    if val_loss is None:  # the last run stopped after its final checkpoint but before the final save
        val_loss, val_acc = _evaluate(model, val_batches, accelerator, rank, world)
    if accelerator.is_main_process:
        meta = {
            "kind": "full" if config.full else "lora",
            "base": base_ref,
            "format": config.format,
            "codebook_size": codebook_size,
            "tokenizer": ".",
            "vq": {"dir": str(Path(config.vq).resolve()), "sha256": dir_hash(config.vq)} if config.vq else None,
            "max_seq_len": config.max_seq_len,
            "steps": step,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "config": asdict(config),
        }
        _save_final(unwrapped, tokenizer, out, meta)
    accelerator.wait_for_everyone()
    if world > 1:
        torch.distributed.destroy_process_group()  # gloo's threads must stop before the interpreter exits
    return Finetuned(out, unwrapped.eval(), tokenizer)


def _save_final(model, tokenizer, out: Path, meta: dict) -> None:
    """Adapter (or full model) + tokenizer at the top of `out`; `motiongpt.json` goes first and comes back last,
    so a crash half-way never leaves a loadable mix of old and new files."""
    (out / META_NAME).unlink(missing_ok=True)
    tmp = out / ".final.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    if meta["kind"] == "lora":
        model.save_pretrained(str(tmp), save_embedding_layers=False)
    else:
        model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    for path in tmp.iterdir():
        os.replace(path, out / path.name)
    tmp.rmdir()
    write_json(out / META_NAME, meta)
