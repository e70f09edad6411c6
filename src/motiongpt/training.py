"""The training harness that the VQ-VAE, LLM and evaluator trainers share.

A trainer supplies a `Stage` (its model and optimiser, one optimiser step's forward/backward, its validation and
its final save) and calls `train(cfg, stage)`; everything else is here and the same for all three:

- `<out>/checkpoint/` (written atomically): `state.json` (step, config, run info, validation figures),
  `model.safetensors` (the trained weights), `optim.pt` (optimiser, scheduler and any extra generator state) and
  `rng-<process>.pt`. Rerunning the same command resumes from it bit for bit; settings that change the result
  must not change (`motiongpt.io.check_resume`); a finished run rerun leaves its output untouched.
- `<out>/log.jsonl`: one JSON line per optimiser step with its train figures; validation figures join that
  step's line with a `val_` prefix. On resume, lines after the checkpoint's step (and a torn last line) go.
- Ctrl-C (one process) finishes the current optimiser step, checkpoints it and raises KeyboardInterrupt.
- DDP through `accelerate` (gloo on CPU); a multi-process run checks that every process ends with the same
  weights (`<out>/processes.json`).

The loop itself is `_loop`: one screen.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import torch

from motiongpt.errors import MotionGPTError
from motiongpt.io import (WEIGHTS_NAME, StopRequest, atomic_directory, check_resume, read_json, recover_directory, rng_state,
                          save_torch, seed_everything, set_rng_state, write_json, write_text)

CHECKPOINT_DIR = "checkpoint"  # <out>/checkpoint/: everything a resumed run needs
LOG_NAME = "log.jsonl"  # <out>/log.jsonl: one JSON line per optimiser step
STATE_NAME = "state.json"
OPTIM_NAME = "optim.pt"
DEFAULT_SEED = 1337  # every trainer's default; the recipe pins the seeds the bundled weights were trained with


def option(default: Any = MISSING, help: str = "", shown: str | None = None, **extra: Any) -> Any:
    """A config field with its command-line help (`shown` replaces the default printed in the help)."""
    metadata = {"help": help, "shown": shown, **extra}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(kw_only=True)
class TrainingConfig:
    """Settings every trainer has; each stage's config extends it (and `motiongpt ... --help` lists them)."""

    out: str = option("", "output folder; rerun the same command to resume", required=True)
    steps: int | None = option(None, "optimiser steps in total")
    seed: int = option(DEFAULT_SEED, "random seed")
    val_every: int = option(100, "validate every N optimiser steps (and at the last)")
    save_every: int | None = option(None, "checkpoint every N optimiser steps", shown="--val-every")
    max_grad_norm: float = option(1.0, "clip the gradient norm to this; 0 turns clipping off")
    device: str | None = option(None, "cpu, or cuda", shown="cuda where available")
    stop_after: int | None = option(None, "checkpoint and return after N optimiser steps of this run")
    quiet: bool = option(False, "no progress bar")

    # settings that may change when a run resumes (every other one must match); stages add theirs
    resumable: ClassVar[frozenset[str]] = frozenset({"out", "val_every", "save_every", "stop_after", "quiet"})


# ----- command-line options generated from a config's fields

def _option_type(hint: Any) -> Any:
    """The type of `X | None` is X's."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def add_config_options(parser: argparse.ArgumentParser, config_cls: type, skip: tuple[str, ...] = ()) -> None:
    """One `--field-name` option per field of `config_cls`: bools as `--x/--no-x`, `list[str]` as a comma list,
    `list[int]` as several numbers. Unset options stay None, so the config's (or a preset's) default applies."""
    hints = typing.get_type_hints(config_cls)
    for f in fields(config_cls):
        if f.name in skip:
            continue
        kind, meta = _option_type(hints[f.name]), f.metadata
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else None)
        kwargs: dict[str, Any] = {"type": kind}
        if kind is bool:
            kwargs = {"action": argparse.BooleanOptionalAction}
        elif typing.get_origin(kind) is list and typing.get_args(kind) == (str,):
            kwargs["type"] = lambda text: [t.strip() for t in text.split(",") if t.strip()]
            default = ",".join(default or [])
        elif typing.get_origin(kind) is list:
            kwargs = {"type": typing.get_args(kind)[0], "nargs": "+"}
        if meta.get("choices"):
            kwargs["choices"] = meta["choices"]
        shown = meta.get("shown") or (default if default is not None and default != "" and default is not False
                                      else None)
        text = meta.get("help", "") + (f" (default: {shown})" if shown is not None else "")
        required = meta.get("required", False) or (f.default is MISSING and f.default_factory is MISSING)
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=None, required=required,
                            help=text, **kwargs)


def given_options(args: argparse.Namespace, config_cls: type) -> dict[str, Any]:
    """The config fields set on the command line (unset ones are left to the config's defaults)."""
    return {f.name: getattr(args, f.name) for f in fields(config_cls) if getattr(args, f.name, None) is not None}


def total_steps(steps: int | None, epochs: float | None, samples: int, per_step: int,
                default_samples: int | None = None) -> int:
    """Run length from --steps, else from --epochs passes over `samples`, else from `default_samples`."""
    if steps is not None and epochs is not None:
        raise MotionGPTError("give the length of training as --steps or --epochs, not both")
    if steps is not None:
        return steps
    if epochs is None and default_samples is None:
        raise MotionGPTError("give the length of training as --steps or --epochs")
    return max(1, math.ceil((epochs * samples if epochs is not None else default_samples) / per_step))


# ----- what a trainer supplies, and what every trainer returns

class Stage:
    """One trainer's parts. `__init__` builds `model` (the unwrapped module whose weights are checkpointed),
    `optimizer`, `scheduler` (or None) and `total_steps`; `train_step` runs forward and backward only (the harness
    clips, steps the optimiser and scheduler and zeroes the gradients)."""

    name = "train"  # progress-bar label
    best_key: str | None = None  # the validation figure whose lowest value is the best
    validate_first = False  # validate before the first step (logged as step 0)
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any = None
    ddp_model: Any = None  # the model as accelerate prepared it (DDP-wrapped when several processes train)
    total_steps: int

    def train_step(self, step: int) -> dict[str, float]:
        raise NotImplementedError

    def validate(self) -> dict[str, float] | None:
        return None

    def weights(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)

    def extra_state(self) -> dict:
        """Generator states beyond the global RNGs (saved in the checkpoint's torch file)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def run_info(self) -> dict:
        """Result-affecting facts not in the config, checked on resume like the config."""
        return {}

    def save_best(self) -> None:
        """Called on the main process when validation reaches a new best `best_key`."""

    def finished(self) -> bool:
        """Whether the final output is on disk (a finished run rerun then changes nothing)."""
        raise NotImplementedError

    def save_final(self, result: TrainResult) -> None:
        raise NotImplementedError


@dataclass
class TrainResult:
    out: Path
    steps: int
    model: torch.nn.Module  # the trained (unwrapped) model, in eval mode
    last_val: dict | None  # the last validation's figures
    best_val: dict | None  # the figures of the validation with the lowest `Stage.best_key`
    best_step: int | None
    log_path: Path

    def log(self) -> list[dict]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]


# ----- the harness

def start(cfg: TrainingConfig, mixed_precision: str = "no"):
    """The Accelerator (DDP when launched with several processes; gloo on CPU), then every RNG seeded."""
    from accelerate import Accelerator

    cpu = cfg.device == "cpu" or not torch.cuda.is_available()
    accelerator = Accelerator(cpu=cpu, mixed_precision=mixed_precision)
    seed_everything(cfg.seed)
    return accelerator


def train(cfg: TrainingConfig, stage: Stage, accelerator,
          callback: Callable[[int, dict], None] | None = None) -> TrainResult:
    """Train `stage` (or resume it from `<out>/checkpoint/`) to its `total_steps`; `callback(step, logs)` runs
    after each optimiser step. Returns before the end, checkpointed, after `cfg.stop_after` steps."""
    out = Path(cfg.out)
    state = _load_checkpoint(cfg, stage, accelerator)
    if state["step"] >= stage.total_steps and stage.finished():
        if accelerator.is_main_process:
            print(f"motiongpt: {out} is complete ({state['step']} of {stage.total_steps} steps); nothing to do")
        return _finish(cfg, stage, accelerator, state, save=False)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        kept = read_log(out / LOG_NAME, state["step"]) if state["step"] else []
        write_text(out / LOG_NAME, "".join(line + "\n" for line in kept))
    stage.model.train()
    if state["step"] == 0 and stage.validate_first:
        _append_log(accelerator, out, {"step": 0, **_validate(stage, state, 0, accelerator)})
    stopped = _loop(cfg, stage, accelerator, state, callback)
    if stopped:
        return _result(cfg, stage, state)
    if state["val_step"] != state["step"]:  # no step ran: a run of 0 steps
        _validate(stage, state, state["step"], accelerator)
    return _finish(cfg, stage, accelerator, state, save=True)


def _loop(cfg: TrainingConfig, stage: Stage, accelerator, state: dict, callback) -> bool:
    """The training loop; True when it stopped at `cfg.stop_after` rather than at the end."""
    from tqdm.auto import tqdm

    params = [p for p in stage.model.parameters() if p.requires_grad]
    save_every = cfg.save_every or cfg.val_every
    start_step, total = state["step"], stage.total_steps
    bar = tqdm(total=total, initial=start_step, desc=stage.name, dynamic_ncols=True,
               disable=cfg.quiet or not accelerator.is_main_process)
    with StopRequest(enabled=accelerator.num_processes == 1) as stop:
        while state["step"] < total:
            logs = stage.train_step(state["step"])
            if cfg.max_grad_norm > 0:
                accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
            stage.optimizer.step()
            if stage.scheduler is not None:
                stage.scheduler.step()
            stage.optimizer.zero_grad(set_to_none=True)
            step = state["step"] = state["step"] + 1
            logs = {"step": step, **logs, "lr": stage.optimizer.param_groups[0]["lr"]}
            if step % cfg.val_every == 0 or step == total:
                logs.update(_validate(stage, state, step, accelerator, bar.write))
            _append_log(accelerator, Path(cfg.out), logs)
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if k != "step" and not k.startswith("val_")})
            bar.update(1)
            if callback is not None:
                callback(step, logs)
            stopping = cfg.stop_after is not None and step - start_step >= cfg.stop_after and step < total
            if step % save_every == 0 or step == total or stop.requested or stopping:
                _save_checkpoint(cfg, stage, accelerator, state)
            if stop.requested:
                bar.close()
                raise KeyboardInterrupt
            if stopping:
                break
    bar.close()
    return state["step"] < total


def _validate(stage: Stage, state: dict, step: int, accelerator, write: Callable[[str], None] = print) -> dict:
    """Run the stage's validation, keep the last and best figures in `state`; the log's `val_` entries."""
    val, state["val_step"] = stage.validate(), step
    if val is None:
        return {}
    state["last_val"] = val
    key = stage.best_key
    if key is not None and (state["best_val"] is None or val[key] < state["best_val"][key]):
        state["best_val"], state["best_step"] = val, step
        if accelerator.is_main_process:
            stage.save_best()
    if accelerator.is_main_process and step > 0:
        write(f"step {step}: " + "  ".join(f"val {k} {v:.4g}" for k, v in val.items() if isinstance(v, float)))
    return {f"val_{k}": v for k, v in val.items()}


def _result(cfg: TrainingConfig, stage: Stage, state: dict) -> TrainResult:
    return TrainResult(Path(cfg.out), state["step"], stage.model.eval(), state["last_val"], state["best_val"],
                       state["best_step"], Path(cfg.out) / LOG_NAME)


def _finish(cfg: TrainingConfig, stage: Stage, accelerator, state: dict, save: bool) -> TrainResult:
    """The stage's final save (main process); then, for several processes, the weights check and DDP teardown."""
    result = _result(cfg, stage, state)
    if save and accelerator.is_main_process:
        stage.save_final(result)
    accelerator.wait_for_everyone()
    if accelerator.num_processes > 1:
        _check_processes_agree(stage, accelerator, Path(cfg.out))
        # DDP's reducer goes first: freed after the process group, it would end gloo's threads while holding the
        # GIL that they may need (a deadlock); and gloo's threads must stop before the interpreter exits
        stage.ddp_model = None
        accelerator.free_memory()
        torch.distributed.destroy_process_group()
    return result


# ----- checkpoint, log, process check

def _load_checkpoint(cfg: TrainingConfig, stage: Stage, accelerator) -> dict:
    """The resumed state (step, validation figures); the stage's weights, optimiser and RNGs restored."""
    from safetensors.torch import load_file

    path = recover_directory(Path(cfg.out) / CHECKPOINT_DIR)  # a kill between two renames must not lose it
    if not (path / STATE_NAME).is_file():
        if (Path(cfg.out) / "checkpoint.pt").is_file():
            raise MotionGPTError(f"{Path(cfg.out) / 'checkpoint.pt'}: a checkpoint of an older version; delete it "
                                 "to start over, or choose a new --out")
        return {"step": 0, "val_step": None, "last_val": None, "best_val": None, "best_step": None}
    state = read_json(path / STATE_NAME)
    # a setting added after the checkpoint was written ran at its default
    defaults = {f.name: f.default for f in fields(cfg) if f.default is not MISSING}
    check_resume({"num_processes": 1, **defaults, **state["config"], **state["run"]},
                 {**asdict(cfg), **_run_info(stage, accelerator)}, path, ignore=type(cfg).resumable)
    weights = load_file(str(path / WEIGHTS_NAME))
    missing = set(stage.weights()) - set(weights)
    if missing:
        raise MotionGPTError(f"{path}: weights missing {sorted(missing)[0]} (a different model?)")
    stage.load_weights(weights)
    saved = torch.load(path / OPTIM_NAME, map_location="cpu", weights_only=False)
    stage.optimizer.load_state_dict(saved["optimizer"])
    if stage.scheduler is not None:
        stage.scheduler.load_state_dict(saved["scheduler"])
    stage.load_extra_state(saved["extra"])
    set_rng_state(torch.load(path / f"rng-{accelerator.process_index}.pt", weights_only=False))
    return {k: state[k] for k in ("step", "val_step", "last_val", "best_val", "best_step")}


def _run_info(stage: Stage, accelerator) -> dict:
    return {"num_processes": accelerator.num_processes, **stage.run_info()}


def _save_checkpoint(cfg: TrainingConfig, stage: Stage, accelerator, state: dict) -> None:
    from accelerate.utils import gather_object
    from safetensors.torch import save_file

    rngs = gather_object([rng_state()])
    if accelerator.is_main_process:
        with atomic_directory(Path(cfg.out) / CHECKPOINT_DIR, overwrite=True) as tmp:
            save_file(stage.weights(), str(tmp / WEIGHTS_NAME))
            scheduler = stage.scheduler.state_dict() if stage.scheduler is not None else None
            save_torch(tmp / OPTIM_NAME, {"optimizer": stage.optimizer.state_dict(), "scheduler": scheduler,
                                          "extra": stage.extra_state()})
            for rank, rng in enumerate(rngs):
                save_torch(tmp / f"rng-{rank}.pt", rng)
            write_json(tmp / STATE_NAME, {**state, "config": asdict(cfg), "run": _run_info(stage, accelerator)})
    accelerator.wait_for_everyone()


def read_log(path: Path, step: int) -> list[str]:
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


def _append_log(accelerator, out: Path, logs: dict) -> None:
    if accelerator.is_main_process:
        with open(out / LOG_NAME, "a") as f:
            f.write(json.dumps(logs) + "\n")


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name, tensor in state.items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _check_processes_agree(stage: Stage, accelerator, out: Path) -> None:
    """Every process must end with the same weights; their digests go to `<out>/processes.json`."""
    digests: list = [None] * accelerator.num_processes
    torch.distributed.all_gather_object(digests, weights_digest(stage.weights()))
    if accelerator.is_main_process:
        write_json(out / "processes.json", {"num_processes": accelerator.num_processes, "weights_sha256": digests})
    if len(set(digests)) != 1:
        raise MotionGPTError(f"training processes ended with different weights ({digests}); multi-process run is "
                             "not consistent")
