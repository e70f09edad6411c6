"""The training harness that the VQ-VAE, LLM and evaluator trainers share (checkpoint layout, log, resume)."""

from __future__ import annotations

CHECKPOINT_DIR = "checkpoint"  # <out>/checkpoint/: everything a resumed run needs
LOG_NAME = "log.jsonl"  # <out>/log.jsonl: one JSON line per optimiser step
