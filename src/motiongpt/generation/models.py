"""The models shipped in the package, by name: a light module (paths only), so that command-line parsers can name
them without importing torch."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets"
BUNDLED_MODEL = ASSETS / "model"
# Models shipped in the package, by the names `--model` and `from_pretrained` take (a dir of that name wins).
# balanced: the bundled model's LLM trained again on instructions balanced by content and style (MODEL_CARD.md,
# "Balanced sampling and a pretrained base"); it shares the bundled model's VQ-VAE and caption list.
NAMED_MODELS = {"bundled": BUNDLED_MODEL, "balanced": ASSETS / "model-balanced"}


def model_dir(model: str | Path | None) -> Path:
    """The dir of a model given by name (`NAMED_MODELS`), by dir, or not at all (the bundled model)."""
    if model is None:
        return BUNDLED_MODEL
    if str(model) in NAMED_MODELS and not Path(model).exists():
        return NAMED_MODELS[str(model)]
    return Path(model)
