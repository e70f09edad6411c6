"""Instruction finetuning of a causal LM on motion codes: LoRA (PEFT) with the paper's settings, or full.

The paper's recipe (MotionGPT `finetune_motion.py`): LoRA r=64, alpha=16, dropout 0.05 on the query and value
projections; AdamW lr 3e-3, weight decay 0.01; micro-batches of 4 accumulated to 256; linear warm-up over 100
optimiser steps then constant; bf16; about 150k samples in all (586 optimiser steps); val loss every 100 steps.
The original puts the loss on prompt and answer; here the loss is on the answer only unless `loss_on_prompt`.

Runs on the shared harness (`motiongpt.training`), on one device or under `accelerate launch` (DDP, one replica
per process). A run is resumable exactly: `<out>/checkpoint/` holds the trainable weights, optimiser, scheduler,
every process's RNG state and the step, and the data order is a function of (seed, step, process count), so
rerunning the same command continues bit for bit. Ctrl-C (single process) stops after the current optimiser step
and checkpoints it; rerunning a finished run leaves its output as it is.

LLaMA-7B/13B on GPUs: LoRA fits one 24-80 GB GPU with `--bf16 --gradient-checkpointing` (add `--load-in-4bit`
for QLoRA on smaller cards). For several GPUs use `accelerate launch --multi_gpu --num_processes N -m motiongpt
finetune ...` (DDP). Full finetuning of 7B+ needs FSDP: `accelerate config` with FSDP, `fsdp_use_orig_params: true`
(PEFT's trainable tokens need it too) and a full-state-dict save; the resume checkpoints here gather the full
trainable state on rank 0, which FSDP supports but this project has not tested.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from motiongpt.errors import MotionGPTError
from motiongpt.io import atomic_directory, dir_hash, read_json, seed_everything, write_json
from motiongpt.llm.base import (BASES, add_code_tokens, build_base, load_causal_lm, load_tokenizer, nf4_config,
                               require_4bit)
from motiongpt.llm.finetuned import META_NAME, bos_ids
from motiongpt.llm.formats import check_format, render_record
from motiongpt.llm.gguf import NAMED_BASES, is_gguf_base, resolve_pretrained
from motiongpt.llm.instructions import codebook_size_from_vq, drop_captions, load_instructions, max_code
from motiongpt.llm.prompts import TEMPLATES
from motiongpt.llm.speed import IGNORE, answer_losses, length_grouped_batches, upper_layers
from motiongpt import training
from motiongpt.training import Stage, TrainingConfig, TrainResult, option

BASE_DIR = "base"
PAPER_SAMPLES = 150_000  # 37,500 micro-batches of 4 in the original


@dataclass(kw_only=True)
class FinetuneConfig(TrainingConfig):
    instructions: str = option(help="dir written by `motiongpt instructions build`")
    base: str = option(help="a local causal LM dir (model + tokenizer), a .gguf file, smollm2-135m, or tiny or "
                            "small (built from scratch)")
    format: str = option("text", "codes as comma-separated digits (paper) or one added token per code",
                         choices=["text", "vocab"])
    full: bool = option(False, "train every weight instead of LoRA adapters")
    lora_r: int = option(64, "LoRA rank")
    lora_alpha: int = option(16, "LoRA alpha")
    lora_dropout: float = option(0.05, "LoRA dropout")
    lora_targets: list[str] = option(["q_proj", "v_proj"], "comma-separated module names")
    lr: float | None = option(None, "learning rate", shown="3e-3 for LoRA as the paper, 5e-4 for --full")
    warmup: int = option(100, "linear warm-up optimiser steps, then constant")
    weight_decay: float = option(0.01, "AdamW weight decay")
    epochs: float | None = option(None, "passes over the train records (instead of --steps)")
    steps: int | None = option(None, "optimiser steps", shown="the paper's 150k samples")
    micro_batch: int = option(4, "records per forward pass and process")
    grad_accum: int = option(64, "micro-batches per optimiser step")
    loss_on_prompt: bool = option(False, "loss on prompt tokens too, as the original")
    bf16: bool | None = option(None, "bf16 mixed precision", shown="on where the GPU supports it")
    gradient_checkpointing: bool = option(False, "recompute activations in the backward pass (less memory)")
    load_in_4bit: bool = option(False, "QLoRA: 4-bit NF4 base (CUDA + bitsandbytes)")
    val_batches: int = option(100, "micro-batches of val records per validation")
    max_seq_len: int = option(512, "longer records are left out")
    vq: str | None = option(None, "the VQ model dir the codes came from (recorded with its hash)")
    codebook_size: int | None = option(None, "number of VQ codes",
                                       shown="from --vq, the instructions' info.json, or the data")
    prompt: str = option("alpaca", "prompt template: the original's Alpaca text, or task name + input (about 50 "
                         "tokens shorter)", choices=list(TEMPLATES))
    answer_logits: bool = option(False, "apply the LM head only where the loss is (one process)")
    length_groups: bool = option(False, "batch records of similar length together (less padding)")
    lora_layers: int | None = option(None, "LoRA on the top N layers only; with --answer-logits and tied "
                                     "embeddings backward stops there", shown="every layer")
    caption_dropout: float = option(0.0, "fraction of train records whose description is left out (controls "
                                    "kept), which classifier-free guidance needs at generation")

    resumable = TrainingConfig.resumable | {"instructions", "vq", "epochs", "steps", "gradient_checkpointing",
                                            "val_batches"}

    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (5e-4 if self.full else 3e-3)


@dataclass
class Example:
    ids: list[int]
    n_prompt: int  # BOS + prompt tokens; the answer and EOS follow


def encode_records(records: list[dict], tokenizer, fmt: str, max_seq_len: int,
                   template: str = "alpaca") -> tuple[list[Example], int]:
    """Examples from records (prompt and answer tokenised apart, as at generation); also how many were too long."""
    pairs = [render_record(r, fmt, template) for r in records]
    prompts = tokenizer([p for p, _ in pairs], add_special_tokens=False)["input_ids"]
    answers = tokenizer([a for _, a in pairs], add_special_tokens=False)["input_ids"]
    bos = bos_ids(tokenizer)
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


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's order of the train records (plain or length-grouped): a function of both alone."""
    return seed * 1_000_003 + epoch


def sample_indices(n: int, seed: int, start: int, count: int) -> list[int]:
    """Positions `start..start+count` of an endless stream of seeded per-epoch permutations of range(n)."""
    out = []
    while count > 0:
        epoch, offset = divmod(start, n)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(epoch_seed(seed, epoch))).tolist()
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
    """The base model dir: `--base PATH` as is, a GGUF file or named base converted once into the cache, or a
    built-in size built once into `<out>/base`."""
    if is_gguf_base(config.base):
        base_dir = resolve_pretrained(config.base) if accelerator.is_main_process else None
        accelerator.wait_for_everyone()
        base_dir = base_dir or resolve_pretrained(config.base)  # the others find it in the cache the main one filled
        # a named base is recorded by name (it comes from its own package), a GGUF file by its path: never the cache
        return base_dir, config.base if config.base in NAMED_BASES else str(Path(config.base).resolve())
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
    layers = upper_layers(model, config.lora_layers) if config.lora_layers else None
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.lora_targets), task_type="CAUSAL_LM",
                      trainable_token_indices=token_indices, layers_to_transform=layers)
    try:
        return get_peft_model(model, lora)
    except ValueError as err:
        raise MotionGPTError(f"--lora-targets {','.join(config.lora_targets)}: {str(err).splitlines()[0]}") from err


def _check_config(config: FinetuneConfig) -> None:
    check_format(config.format)
    if config.load_in_4bit:
        if config.full:
            raise MotionGPTError("--load-in-4bit trains LoRA adapters on a frozen 4-bit base; drop --full")
        require_4bit()
    if config.base not in BASES and not is_gguf_base(config.base) and not Path(config.base).is_dir():
        raise MotionGPTError(f"{config.base}: not a model dir, a .gguf file nor one of "
                             f"{', '.join([*BASES, *NAMED_BASES])}")
    if not 0.0 <= config.caption_dropout < 1.0:
        raise MotionGPTError(f"--caption-dropout {config.caption_dropout}: expected a fraction in [0, 1)")
    if config.lora_layers is not None and (config.lora_layers < 1 or config.full):
        raise MotionGPTError(f"--lora-layers {config.lora_layers}: expected a positive layer count, without --full")


def _load_records(config: FinetuneConfig) -> tuple[list[dict], list[dict], dict]:
    train_records, val_records, info = load_instructions(config.instructions)
    if not train_records or not val_records:
        raise MotionGPTError(f"{config.instructions}: needs train and val records (train {len(train_records)}, "
                             f"val {len(val_records)})")
    return train_records, val_records, info


class LLMStage(Stage):
    """The LLM's parts of the harness: LoRA or full model, AdamW with linear warm-up, accumulated micro-batches
    drawn from seeded permutations (a function of step, micro-batch and process), answer-only val loss."""

    name = "finetune"
    best_key = "loss"
    validate_first = True

    def __init__(self, config: FinetuneConfig, accelerator, bf16: bool):
        self.config, self.accelerator, self.out = config, accelerator, Path(config.out)
        train_records, val_records, info = _load_records(config)
        self.codebook_size = _resolve_codebook_size(config, info, train_records)
        base_dir, self.base_ref = _prepare_base(config, self.out, train_records, accelerator)
        # seeded again after the base, which a rerun finds built: later draws must not depend on that
        seed_everything(config.seed)
        model, self.tokenizer = _load_model(config, base_dir, bf16, accelerator)
        new_ids = add_code_tokens(model, self.tokenizer, self.codebook_size) if config.format == "vocab" else []
        tied = model.get_output_embeddings() is not None and \
            model.get_output_embeddings().weight is model.get_input_embeddings().weight
        model = _wrap_model(config, model, new_ids)
        if config.answer_logits and accelerator.num_processes > 1:
            raise MotionGPTError("--answer-logits runs on one process (DDP needs the whole model's forward)")
        # with LoRA on the upper layers only, nothing below them needs a gradient unless untied input rows learn
        self.detach_inputs = bool(config.lora_layers) and not config.full and (tied or not new_ids)
        self._encode(train_records, val_records)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=config.learning_rate(), weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min(1.0, (s + 1) / max(1, config.warmup)))
        self.ddp_model, self.optimizer = accelerator.prepare(model, optimizer)
        self.model = accelerator.unwrap_model(self.ddp_model)
        per_step = config.micro_batch * config.grad_accum * accelerator.num_processes
        self.total_steps = training.total_steps(config.steps, config.epochs, len(self.train), per_step,
                                                PAPER_SAMPLES)

    def _encode(self, train_records: list[dict], val_records: list[dict]) -> None:
        config, pad = self.config, self.tokenizer.pad_token_id
        train_records = drop_captions(train_records, config.caption_dropout, config.seed)
        self.train, dropped = encode_records(train_records, self.tokenizer, config.format, config.max_seq_len,
                                             config.prompt)
        val, val_dropped = encode_records(val_records, self.tokenizer, config.format, config.max_seq_len,
                                          config.prompt)
        self.epoch_batches: dict[int, list[list[int]]] = {}
        if not self.train or not val:
            raise MotionGPTError(f"{config.instructions}: every record is longer than --max-seq-len "
                                 f"{config.max_seq_len}")
        if (dropped or val_dropped) and self.accelerator.is_main_process:
            print(f"motiongpt: {dropped} train and {val_dropped} val records longer than --max-seq-len "
                  f"{config.max_seq_len} were left out")
        size = config.micro_batch
        self.val_batches = [collate(val[i:i + size], pad, config.loss_on_prompt)
                            for i in range(0, min(len(val), config.val_batches * size), size)]

    def _micro_batch(self, step: int, micro: int) -> dict[str, torch.Tensor]:
        config, acc = self.config, self.accelerator
        index = (step * config.grad_accum + micro) * acc.num_processes + acc.process_index
        if config.length_groups:
            picks = self._grouped_batch(index)
        else:
            picks = sample_indices(len(self.train), config.seed, index * config.micro_batch, config.micro_batch)
        batch = collate([self.train[i] for i in picks], self.tokenizer.pad_token_id, config.loss_on_prompt)
        return {k: v.to(acc.device) for k, v in batch.items()}

    def _grouped_batch(self, index: int) -> list[int]:
        """The `index`-th micro-batch of an endless stream of seeded length-grouped epochs (resumable: a function
        of seed and index only)."""
        per_epoch = math.ceil(len(self.train) / self.config.micro_batch)
        epoch, offset = divmod(index, per_epoch)
        if epoch not in self.epoch_batches:
            self.epoch_batches = {epoch: length_grouped_batches([len(e.ids) for e in self.train],
                                                                self.config.micro_batch,
                                                                epoch_seed(self.config.seed, epoch))}
        return self.epoch_batches[epoch][offset]

    def _losses(self, batch: dict[str, torch.Tensor], labels: str) -> tuple[torch.Tensor, ...]:
        with self.accelerator.autocast():
            if self.config.answer_logits:
                return answer_losses(self.ddp_model, batch["input_ids"], batch["attention_mask"], batch[labels],
                                     detach_inputs=self.detach_inputs)
            logits = self.ddp_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        return token_losses(logits, batch[labels])

    def train_step(self, step: int) -> dict[str, float]:
        """`grad_accum` micro-batches; gradients are synchronised across processes on the last one only."""
        acc, accum, started = self.accelerator, self.config.grad_accum, time.perf_counter()
        totals = torch.zeros(2, dtype=torch.float64, device=acc.device)
        for micro in range(accum):
            batch = self._micro_batch(step, micro)
            with acc.no_sync(self.ddp_model) if micro < accum - 1 else contextlib.nullcontext():
                loss_sum, count, _ = self._losses(batch, "labels")
                loss = loss_sum / count.clamp(min=1)
                acc.backward(loss / accum)
            totals += torch.stack([loss.detach().double(), batch["attention_mask"].sum().double()])
        totals = acc.reduce(totals, reduction="sum")
        return {"loss": totals[0].item() / (accum * acc.num_processes),
                "tokens_per_s": totals[1].item() / max(time.perf_counter() - started, 1e-9)}

    def validate(self) -> dict[str, float]:
        """Answer-only loss and next-token accuracy on the val batches (split over processes)."""
        acc = self.accelerator
        self.ddp_model.eval()
        totals = torch.zeros(3, dtype=torch.float64, device=acc.device)
        with torch.no_grad():
            for batch in self.val_batches[acc.process_index::acc.num_processes]:
                batch = {k: v.to(acc.device) for k, v in batch.items()}
                loss, count, correct = self._losses(batch, "answer_labels")
                totals += torch.stack([loss.double(), count.double(), correct.double()])
        totals = acc.reduce(totals, reduction="sum")
        self.ddp_model.train()
        return {"loss": (totals[0] / totals[1].clamp(min=1)).item(), "acc": (totals[2] / totals[1].clamp(min=1)).item()}

    def weights(self) -> dict[str, torch.Tensor]:
        return {n: p.detach().float().cpu().contiguous() for n, p in self.model.named_parameters() if p.requires_grad}

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state, strict=False)

    def finished(self) -> bool:
        return (self.out / META_NAME).is_file()

    def save_final(self, result: TrainResult) -> None:
        config = self.config
        meta = {
            "kind": "full" if config.full else "lora",
            "base": self.base_ref,
            "format": config.format,
            "codebook_size": self.codebook_size,
            "tokenizer": ".",
            "vq": {"dir": str(Path(config.vq).resolve()), "sha256": dir_hash(config.vq)} if config.vq else None,
            "max_seq_len": config.max_seq_len,
            "prompt": config.prompt,
            "steps": result.steps,
            "val_loss": result.last_val["loss"],
            "val_acc": result.last_val["acc"],
            "config": asdict(config),
        }
        _save_final(self.model, self.tokenizer, self.out, meta)


@dataclass
class Finetuned(TrainResult):
    tokenizer: object = None


def finetune(config: FinetuneConfig, callback: Callable[[int, dict], None] | None = None) -> Finetuned:
    """Train and save into `config.out`. `callback(step, logs)` runs after each optimiser step (progress, stopping)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the run's own bar shows training progress
    _check_config(config)
    bf16 = config.bf16 if config.bf16 is not None else bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    accelerator = training.start(config, mixed_precision="bf16" if bf16 else "no")
    stage = LLMStage(config, accelerator, bf16)
    result = training.train(config, stage, accelerator, callback)
    return Finetuned(**vars(result), tokenizer=stage.tokenizer)


def _save_final(model, tokenizer, out: Path, meta: dict) -> None:
    """Adapter (or full model) + tokenizer at the top of `out`; `motiongpt.json` goes first and comes back last,
    so a crash half-way never leaves a loadable mix of old and new files."""
    (out / META_NAME).unlink(missing_ok=True)
    tmp = out / ".final.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    if meta["kind"] == "lora":
        model.save_pretrained(str(tmp), save_embedding_layers=False)
        # PEFT records the dir the base was loaded from (a cache path of this machine) and writes a template
        # README; the base on record is `meta["base"]` (a name, a GGUF file or a dir), and no README is needed
        (tmp / "README.md").unlink(missing_ok=True)
        adapter = read_json(tmp / "adapter_config.json")
        write_json(tmp / "adapter_config.json", {**adapter, "base_model_name_or_path": meta["base"]})
    else:
        model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    for path in tmp.iterdir():
        os.replace(path, out / path.name)
    tmp.rmdir()
    write_json(out / META_NAME, meta)
