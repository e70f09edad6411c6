"""The models shipped in the package, by name: a light module (paths only), so that command-line parsers can name
them without importing torch."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets"
# Models shipped in the package, by the names `--model` and `from_pretrained` take (a dir of that name wins).
# balanced (the default): a 5 M-weight LLM trained on instructions balanced by content and style, on the codes of
# its own VQ-VAE (unbalanced's, finetuned on windows balanced the same way); it shares the caption list of
# unbalanced, the first bundled model, whose instructions follow the clip counts (MODEL_CARD.md, "Balanced
# sampling and a pretrained base" and "A tokenizer that sees every action": balanced scores better).
NAMED_MODELS = {"balanced": ASSETS / "model-balanced", "unbalanced": ASSETS / "model"}
DEFAULT_MODEL = "balanced"
BUNDLED_MODEL = NAMED_MODELS[DEFAULT_MODEL]  # what `generate`, `serve` and `from_pretrained()` use by default


def model_dir(model: str | Path | None) -> Path:
    """The dir of a model given by name (`NAMED_MODELS`), by dir, or not at all (the default, `DEFAULT_MODEL`)."""
    if model is None:
        return BUNDLED_MODEL
    if str(model) in NAMED_MODELS and not Path(model).exists():
        return NAMED_MODELS[str(model)]
    return Path(model)
