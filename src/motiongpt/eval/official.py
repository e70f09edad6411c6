"""The Guo et al. (2022) text-motion matching evaluator used by T2M-GPT and MotionGPT, and its GloVe word vectorizer.

Loads the official `text_mot_match/model/finest.tar` (a torch pickle dict whose 'movement_encoder', 'text_encoder'
and 'motion_encoder' entries are the three modules' state dicts), the `glove/our_vab_{data.npy,words.pkl,idx.pkl}`
vocabulary and the evaluator's `mean.npy`/`std.npy`. Sizes are read from the checkpoint's tensors; the official
HumanML3D ones are:

    movement encoder  Conv1d(259→512,k4,s2) → Conv1d(512→512,k4,s2) → Linear(512→512)   (frames ÷ 4)
    motion encoder    Linear(512→1024) → BiGRU(1024) → Linear(2048→1024), LayerNorm, LeakyReLU, Linear(1024→512)
    text encoder      GloVe 300 + Linear(15→300)(POS one-hot) → Linear(300→512) → BiGRU(512)
                      → Linear(1024→512), LayerNorm, LeakyReLU, Linear(512→512)

so both sides embed into the same 512-d space (KIT: 251 - 4 = 247 input channels).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from motiongpt.data.layout import UNIT_LENGTH, Caption
from motiongpt.errors import MotionGPTError

MAX_TEXT_LEN = 20  # words kept per caption, before sos/eos
CONTACT_DIMS = 4  # trailing foot-contact channels the evaluator ignores
CHECKPOINT_KEYS = ("movement_encoder", "text_encoder", "motion_encoder")

POS_CLASSES = ("VERB", "NOUN", "DET", "ADP", "NUM", "AUX", "PRON", "ADJ", "ADV",
               "Loc_VIP", "Body_VIP", "Obj_VIP", "Act_VIP", "Desc_VIP", "OTHER")
# Words whose POS the original vectorizer overrides with a "very important" class; needed for identical embeddings.
VIP_WORDS = {
    "Loc_VIP": ("left", "right", "clockwise", "counterclockwise", "anticlockwise", "forward", "back", "backward",
                "up", "down", "straight", "curve"),
    "Body_VIP": ("arm", "chin", "foot", "feet", "face", "hand", "mouth", "leg", "waist", "eye", "knee", "shoulder",
                 "thigh"),
    "Obj_VIP": ("stair", "dumbbell", "chair", "window", "floor", "car", "ball", "handrail", "baseball", "basketball"),
    "Act_VIP": ("walk", "run", "swing", "pick", "bring", "kick", "put", "squat", "throw", "hop", "dance", "jump",
                "turn", "stumble", "stop", "sit", "lift", "lower", "raise", "wash", "stand", "kneel", "stroll", "rub",
                "bend", "balance", "flap", "jog", "shuffle", "lean", "rotate", "spin", "spread", "climb"),
    "Desc_VIP": ("slowly", "carefully", "fast", "careful", "slow", "quickly", "happy", "angry", "sad", "happily",
                 "angrily", "sadly"),
}
_VIP_OF_WORD = {word: pos for pos, words in VIP_WORDS.items() for word in words}


class WordVectorizer:
    """Maps HumanML3D `word/POS` tokens to (GloVe vector, POS one-hot); unknown words become `unk`/OTHER."""

    def __init__(self, glove_dir: str | Path, prefix: str = "our_vab"):
        glove_dir = Path(glove_dir)
        paths = [glove_dir / f"{prefix}_{name}" for name in ("data.npy", "words.pkl", "idx.pkl")]
        for path in paths:
            if not path.is_file():
                raise MotionGPTError(f"{path}: GloVe vocabulary file not found (expected {prefix}_data.npy, "
                                     f"{prefix}_words.pkl, {prefix}_idx.pkl in {glove_dir})")
        vectors = np.load(paths[0]).astype(np.float32)
        with open(paths[1], "rb") as f:
            words = pickle.load(f)
        with open(paths[2], "rb") as f:
            word_to_index = pickle.load(f)
        self.word_to_vector = {word: vectors[word_to_index[word]] for word in words}
        if "unk" not in self.word_to_vector:
            raise MotionGPTError(f"{paths[1]}: vocabulary has no 'unk' entry")
        self.dim = vectors.shape[1]

    @staticmethod
    def pos_onehot(pos: str) -> np.ndarray:
        onehot = np.zeros(len(POS_CLASSES), dtype=np.float32)
        onehot[POS_CLASSES.index(pos) if pos in POS_CLASSES else POS_CLASSES.index("OTHER")] = 1.0
        return onehot

    def __getitem__(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        word, _, pos = token.rpartition("/")
        if word not in self.word_to_vector:
            return self.word_to_vector["unk"], self.pos_onehot("OTHER")
        return self.word_to_vector[word], self.pos_onehot(_VIP_OF_WORD.get(word, pos))

    def encode_caption(self, tokens: Sequence[str], max_words: int = MAX_TEXT_LEN
                       ) -> tuple[np.ndarray, np.ndarray, int]:
        """(max_words+2, 300) word vectors, (max_words+2, 15) POS one-hots and the length with sos/eos."""
        tokens = ["sos/OTHER", *list(tokens)[:max_words], "eos/OTHER"]
        length = len(tokens)
        tokens += ["unk/OTHER"] * (max_words + 2 - length)
        words, pos = zip(*(self[t] for t in tokens))
        return np.stack(words), np.stack(pos), length


def _co_embedding_head(hidden: int, output: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(hidden * 2, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.2, inplace=True),
                         nn.Linear(hidden, output))


def _bigru_last(gru: nn.GRU, inputs: torch.Tensor, lengths: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
    _, last = gru(packed, hidden.repeat(1, inputs.shape[0], 1).contiguous())
    return torch.cat([last[0], last[1]], dim=-1)


class MovementConvEncoder(nn.Module):
    """(B, T, D) → (B, T/4, latent): two stride-2 convolutions and a linear layer."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv1d(input_size, hidden_size, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2),
            nn.Conv1d(hidden_size, output_size, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2),
        )
        self.out_net = nn.Linear(output_size, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_net(self.main(x.transpose(1, 2)).transpose(1, 2))


class MotionEncoderBiGRUCo(nn.Module):
    """Movement latents (B, T', D) and valid lengths → one co-embedding per motion."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        self.input_emb = nn.Linear(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = _co_embedding_head(hidden_size, output_size)
        self.hidden = nn.Parameter(torch.randn(2, 1, hidden_size))

    def forward(self, movements: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.output_net(_bigru_last(self.gru, self.input_emb(movements), lengths, self.hidden))


class TextEncoderBiGRUCo(nn.Module):
    """Word vectors + POS one-hots (B, L, ·) and caption lengths → one co-embedding per caption."""

    def __init__(self, word_size: int, pos_size: int, hidden_size: int, output_size: int):
        super().__init__()
        self.pos_emb = nn.Linear(pos_size, word_size)
        self.input_emb = nn.Linear(word_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = _co_embedding_head(hidden_size, output_size)
        self.hidden = nn.Parameter(torch.randn(2, 1, hidden_size))

    def forward(self, word_embs: torch.Tensor, pos_onehot: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        inputs = self.input_emb(word_embs + self.pos_emb(pos_onehot))
        return self.output_net(_bigru_last(self.gru, inputs, lengths, self.hidden))


def _shapes_from_checkpoint(state: dict[str, dict[str, torch.Tensor]], where: str) -> dict[str, int]:
    try:
        movement, text, motion = (state[k] for k in CHECKPOINT_KEYS)
        sizes = {
            "movement_input": movement["main.0.weight"].shape[1],
            "movement_hidden": movement["main.0.weight"].shape[0],
            "movement_latent": movement["main.3.weight"].shape[0],
            "word_size": text["pos_emb.weight"].shape[0],
            "pos_size": text["pos_emb.weight"].shape[1],
            "text_hidden": text["input_emb.weight"].shape[0],
            "motion_hidden": motion["input_emb.weight"].shape[0],
            "output": motion["output_net.3.weight"].shape[0],
        }
    except KeyError as err:
        raise MotionGPTError(f"{where}: not a text-motion matching checkpoint (missing {err})") from err
    if motion["input_emb.weight"].shape[1] != sizes["movement_latent"] or \
            text["output_net.3.weight"].shape[0] != sizes["output"]:
        raise MotionGPTError(f"{where}: inconsistent sizes (movement latent → motion encoder input, or text and "
                             f"motion output widths differ)")
    return sizes


class OfficialEvaluator(nn.Module):
    """Text and motion encoders of the official evaluator, with its normalisation and word vectorizer."""

    def __init__(self, sizes: dict[str, int], mean: np.ndarray, std: np.ndarray, vectorizer: WordVectorizer):
        super().__init__()
        self.sizes = dict(sizes)
        self.feature_dim = sizes["movement_input"] + CONTACT_DIMS
        if mean.shape != (self.feature_dim,) or std.shape != (self.feature_dim,):
            raise MotionGPTError(f"evaluator mean/std have shape {mean.shape}/{std.shape}, expected "
                                 f"({self.feature_dim},) for this checkpoint")
        if vectorizer.dim != sizes["word_size"] or len(POS_CLASSES) != sizes["pos_size"]:
            raise MotionGPTError(f"GloVe vectors are {vectorizer.dim}-d and POS one-hots {len(POS_CLASSES)}-d, "
                                 f"the checkpoint expects {sizes['word_size']} and {sizes['pos_size']}")
        self.vectorizer = vectorizer
        self.register_buffer("mean", torch.from_numpy(np.asarray(mean, np.float32)))
        self.register_buffer("std", torch.from_numpy(np.asarray(std, np.float32)))
        self.movement_encoder = MovementConvEncoder(sizes["movement_input"], sizes["movement_hidden"],
                                                    sizes["movement_latent"])
        self.text_encoder = TextEncoderBiGRUCo(sizes["word_size"], sizes["pos_size"], sizes["text_hidden"],
                                               sizes["output"])
        self.motion_encoder = MotionEncoderBiGRUCo(sizes["movement_latent"], sizes["motion_hidden"], sizes["output"])
        self.eval()

    @classmethod
    def load(cls, checkpoint: str | Path, glove_dir: str | Path, meta_dir: str | Path) -> OfficialEvaluator:
        """From `finest.tar`, the GloVe folder and the folder holding the evaluator's mean.npy/std.npy."""
        checkpoint, meta_dir = Path(checkpoint), Path(meta_dir)
        if not checkpoint.is_file():
            raise MotionGPTError(f"{checkpoint}: evaluator checkpoint not found")
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises several types for corrupt or foreign files
            raise MotionGPTError(f"{checkpoint}: cannot read as a torch checkpoint ({err})") from err
        if not isinstance(state, dict):
            raise MotionGPTError(f"{checkpoint}: expected a dict with keys {CHECKPOINT_KEYS}")
        stats = []
        for name in ("mean.npy", "std.npy"):
            if not (meta_dir / name).is_file():
                raise MotionGPTError(f"{meta_dir / name}: evaluator normalisation statistics not found")
            stats.append(np.load(meta_dir / name).astype(np.float32))
        model = cls(_shapes_from_checkpoint(state, str(checkpoint)), *stats, WordVectorizer(glove_dir))
        for key in CHECKPOINT_KEYS:
            try:
                getattr(model, key).load_state_dict(state[key])
            except RuntimeError as err:
                first_line = str(err).strip().splitlines()[0]
                raise MotionGPTError(f"{checkpoint}: '{key}' does not fit the evaluator ({first_line})") from err
        return model

    @torch.no_grad()
    def embed_text(self, captions: Sequence[Sequence[str]]) -> np.ndarray:
        """Captions as HumanML3D `word/POS` token lists → (N, 512) embeddings."""
        encoded = [self.vectorizer.encode_caption(tokens) for tokens in captions]
        words = torch.from_numpy(np.stack([e[0] for e in encoded]))
        pos = torch.from_numpy(np.stack([e[1] for e in encoded]))
        lengths = torch.tensor([e[2] for e in encoded])
        return self.text_encoder(words, pos, lengths).numpy()

    def embed_captions(self, captions: Sequence[Caption]) -> np.ndarray:
        return self.embed_text([c.tokens for c in captions])

    @torch.no_grad()
    def embed_motion(self, features: np.ndarray | torch.Tensor, lengths: Sequence[int]) -> np.ndarray:
        """Raw (un-normalised) features (B, T, D) with valid frame counts → (B, 512) embeddings."""
        features, lengths = motion_batch(features, lengths, self.feature_dim)
        normalised = masked_normalise(features, lengths, self.mean, self.std)
        movements = self.movement_encoder(normalised[..., :-CONTACT_DIMS])
        return self.motion_encoder(movements, lengths // UNIT_LENGTH).numpy()


def motion_batch(features: np.ndarray | torch.Tensor, lengths: Sequence[int] | torch.Tensor,
                 feature_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Float (B, T, D) features and int64 lengths, checked against the evaluator's width and unit length."""
    features = torch.as_tensor(np.asarray(features, dtype=np.float32))
    lengths = torch.as_tensor(np.asarray(lengths, dtype=np.int64))
    if features.ndim != 3 or features.shape[-1] != feature_dim:
        raise MotionGPTError(f"motion features have shape {tuple(features.shape)}, the evaluator expects "
                             f"(B, T, {feature_dim})")
    if lengths.shape != (len(features),) or bool((lengths < UNIT_LENGTH).any()) or \
            bool((lengths > features.shape[1]).any()):
        raise MotionGPTError(f"motion lengths must be {UNIT_LENGTH}..{features.shape[1]} frames, one per motion")
    return features, lengths


def masked_normalise(features: torch.Tensor, lengths: torch.Tensor, mean: torch.Tensor,
                     std: torch.Tensor) -> torch.Tensor:
    """(x - mean) / std on the valid frames, zeros after each length (the official loader's padding)."""
    valid = torch.arange(features.shape[1], device=features.device)[None, :, None] < lengths[:, None, None]
    return torch.where(valid, (features - mean) / std, 0.0)
