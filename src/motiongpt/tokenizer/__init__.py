"""The motion tokenizer: a VQ-VAE that turns 4 frames into one code and back (T2M-GPT recipe)."""

from motiongpt.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "motiongpt.tokenizer.config": ["VQVAEConfig", "preset_config", "PRESETS"],
    "motiongpt.tokenizer.model": ["VQVAE", "vqvae_loss"],
    "motiongpt.tokenizer.encode": ["encode_dataset"],
    "motiongpt.tokenizer.reconstruction": ["reconstruction_metrics"],
    "motiongpt.tokenizer.original": ["load_original_checkpoint"],
})
