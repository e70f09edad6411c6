"""The original MotionGPT release's weights (Lit-LLaMA checkpoints) as a Hugging Face LLaMA and a PEFT adapter.

The original ran LLaMA-13B (or 7B) through Lit-LLaMA with a LoRA on the fused query/key/value projection. Its two
checkpoints, in Lit-LLaMA's layout:

- base (`lit-llama.pth`): `transformer.wte.weight` and `lm_head.weight` (vocabulary, width d), `transformer.ln_f.scale`,
  and per block `transformer.h.N.`: `rms_1.scale`, `attn.c_attn.weight` (q, k and v stacked, 3d x d),
  `attn.c_proj.weight`, `rms_2.scale`, `mlp.c_fc1.weight` (gate), `mlp.c_fc2.weight` (up), `mlp.c_proj.weight` (down).
  The q and k rows are in Meta's rotary layout: each head rotates interleaved pairs (x0, x1), (x2, x3), ...;
  Hugging Face's LLaMA rotates the first half of a head against the second, so those rows are reordered here.
  RMSNorm eps is 1e-5; the MLP width is read from the shapes.
- LoRA (`pretrained.pth`): per block `attn.c_attn.lora_A` (2r x d) and `attn.c_attn.lora_B` (2d x r) of a merged
  linear layer with LoRA on q and v only, computed as a grouped product with two groups: the first r rows of A and
  first d rows of B make q's update, the others v's, scaled by alpha / r (the paper: r 64, alpha 16). The file
  also holds `llama_proj.*` and `motion_proj.*`, which the original never uses; they are skipped.

Checkpoints are read tensor by tensor straight from the torch zip archive (nothing is unpickled but plain state
dicts of tensors) and written in row blocks into safetensors shards, so memory stays flat whatever the model's size:
about 0.5 GB peak RSS, interpreter included, at LLaMA-13B's width (benchmarks/bench_lit_convert.py).
"""

from __future__ import annotations

import json
import pickle
import re
import shutil
import struct
import sys
import tempfile
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from motiongpt.errors import MotionGPTError
from motiongpt.io import atomic_directory, read_json, write_json

HEAD_SIZE = 128  # every LLaMA v1 size has 128-dim heads, so the head count follows from the width
RMS_EPS = 1e-5
MAX_POSITIONS = 2048  # LLaMA v1's context
BLOCK_BYTES = 64 << 20  # rows converted at once: the converter's working memory
SHARD_BYTES = 5 << 30
LLAMA_SIZES = {(32, 4096): "LLaMA-7B", (40, 5120): "LLaMA-13B", (60, 6656): "LLaMA-30B", (80, 8192): "LLaMA-65B"}
UNUSED_PREFIXES = ("llama_proj.", "motion_proj.")  # saved by the original beside its LoRA, never used
STRIPPED_PREFIXES = ("_forward_module.", "module.")  # wrappers (Fabric, DDP) the original may have saved through
LORA_TARGETS = ("q_proj", "v_proj")
BASE_EXPECTED = ("a Lit-LLaMA base checkpoint (lit-llama.pth): keys transformer.wte.weight, lm_head.weight, "
                 "transformer.ln_f.scale and transformer.h.N.{rms_1.scale, attn.c_attn.weight, attn.c_proj.weight, "
                 "rms_2.scale, mlp.c_fc1.weight, mlp.c_fc2.weight, mlp.c_proj.weight}")
LORA_EXPECTED = ("a Lit-LLaMA LoRA checkpoint (the original's pretrained.pth): keys "
                 "transformer.h.N.attn.c_attn.lora_A and transformer.h.N.attn.c_attn.lora_B")
_SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
                       torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
                       torch.uint8: "U8", torch.bool: "BOOL"}
_STORAGE_DTYPES = {"FloatStorage": torch.float32, "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
                   "DoubleStorage": torch.float64, "LongStorage": torch.int64, "IntStorage": torch.int32,
                   "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
                   "BoolStorage": torch.bool}


# ------------------------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class _Storage:
    key: str
    dtype: torch.dtype


@dataclass(frozen=True)
class StoredTensor:
    """A tensor inside a torch checkpoint, read from disk only when asked (whole, or a block of rows)."""

    archive: "TorchArchive"
    storage: _Storage
    offset: int  # in elements
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def dtype(self) -> torch.dtype:
        return self.storage.dtype

    def _row_contiguous(self) -> bool:
        expected, step = [], 1
        for size in reversed(self.shape):
            expected.insert(0, step)
            step *= size
        return all(s == e for s, e, n in zip(self.stride, expected, self.shape) if n > 1)

    def load(self) -> torch.Tensor:
        return self.rows(0, self.shape[0]) if self.shape else self._load_any()

    def rows(self, start: int, stop: int) -> torch.Tensor:
        """Rows start..stop (first dimension), reading only their bytes when the tensor is stored row by row."""
        if not self._row_contiguous():
            return self._load_any()[start:stop].contiguous()
        row = 1
        for size in self.shape[1:]:
            row *= size
        flat = self.archive.read(self.storage, self.offset + start * row, (stop - start) * row)
        return flat.view(stop - start, *self.shape[1:])

    def _load_any(self) -> torch.Tensor:
        span = 1 + sum((n - 1) * s for n, s in zip(self.shape, self.stride)) if all(self.shape) else 0
        flat = self.archive.read(self.storage, self.offset, span)
        return flat.as_strided(self.shape, self.stride).contiguous()


def _rebuild_tensor(storage, offset, shape, stride, *_rest) -> tuple:
    return ("tensor", storage, int(offset), tuple(int(n) for n in shape), tuple(int(s) for s in stride))


def _rebuild_parameter(data, *_rest):
    return data


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickles a torch state dict without loading a byte of its tensors, and nothing but tensors and containers."""

    def __init__(self, file, where: str):
        super().__init__(file)
        self.where = where

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        raise MotionGPTError(f"{self.where}: holds a pickled {module}.{name}; expected a plain state dict of tensors")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)):
            raise MotionGPTError(f"{self.where}: unexpected storage record {pid!r:.80}")
        return _Storage(str(pid[2]), pid[1])


class TorchArchive:
    """A `torch.save` zip file opened for reading tensors one at a time (`state_dict()` lists them unread)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise MotionGPTError(f"{self.path}: not found")
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as err:
            raise MotionGPTError(f"{self.path}: not a complete torch checkpoint ({err}; truncated or not written by "
                                 "torch.save)") from err
        self._file = open(self.path, "rb")
        names = [i.filename for i in self._zip.infolist() if i.filename.endswith("data.pkl")]
        if len(names) != 1:
            self.close()
            raise MotionGPTError(f"{self.path}: not a torch checkpoint (no single data.pkl record in the archive)")
        self._prefix = names[0][: -len("data.pkl")]
        self._records = {i.filename: i for i in self._zip.infolist()}
        byteorder = self._records.get(self._prefix + "byteorder")
        if byteorder is not None and self._zip.read(byteorder).strip() not in (b"little", b""):
            self.close()
            raise MotionGPTError(f"{self.path}: saved on a big-endian machine; not supported")

    def close(self) -> None:
        self._zip.close()
        if hasattr(self, "_file"):
            self._file.close()

    def __enter__(self) -> "TorchArchive":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def state_dict(self) -> dict[str, StoredTensor]:
        """Key -> tensor (unread); one-line errors for anything but a flat dict of tensors."""
        where = str(self.path)
        try:
            with self._zip.open(self._prefix + "data.pkl") as f:
                obj = _StateDictUnpickler(f, where).load()
        except MotionGPTError:
            raise
        except Exception as err:  # a corrupt pickle stream raises anything from EOFError to UnpicklingError
            raise MotionGPTError(f"{where}: cannot read its pickle ({type(err).__name__}: {err})") from err
        if not isinstance(obj, dict):
            raise MotionGPTError(f"{where}: holds a {type(obj).__name__}; expected a state dict (key -> tensor)")
        out = {}
        for key, value in obj.items():
            if not (isinstance(value, tuple) and len(value) == 5 and value[0] == "tensor"):
                raise MotionGPTError(f"{where}: key {key!r} holds a {type(value).__name__}, not a tensor; expected a "
                                     "plain state dict")
            _, storage, offset, shape, stride = value
            out[_strip_prefix(str(key))] = StoredTensor(self, storage, offset, shape, stride)
        return out

    def read(self, storage: _Storage, start: int, count: int) -> torch.Tensor:
        """`count` elements of a storage from element `start`, read into fresh memory (whole records CRC-checked)."""
        name = f"{self._prefix}data/{storage.key}"
        info = self._records.get(name)
        if info is None:
            raise MotionGPTError(f"{self.path}: storage record {name!r} missing (truncated or damaged file)")
        if info.compress_type != zipfile.ZIP_STORED:
            raise MotionGPTError(f"{self.path}: record {name!r} is compressed; torch.save never compresses")
        itemsize = storage.dtype.itemsize
        begin, size = start * itemsize, count * itemsize
        if begin + size > info.file_size:
            raise MotionGPTError(f"{self.path}: record {name!r} holds {info.file_size} bytes, a tensor needs "
                                 f"{begin + size} (damaged file)")
        out = torch.empty(count, dtype=storage.dtype)
        buffer = memoryview(out.view(torch.uint8).numpy()) if count else memoryview(bytearray())
        self._file.seek(self._data_start(info) + begin)
        done = 0
        while done < size:
            n = self._file.readinto(buffer[done:])
            if not n:
                raise MotionGPTError(f"{self.path}: file ends inside record {name!r} (truncated)")
            done += n
        if begin == 0 and size == info.file_size and zlib.crc32(buffer) != info.CRC:
            raise MotionGPTError(f"{self.path}: record {name!r} fails its checksum (damaged file)")
        return out

    def _data_start(self, info: zipfile.ZipInfo) -> int:
        self._file.seek(info.header_offset)
        header = self._file.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise MotionGPTError(f"{self.path}: bad zip header for {info.filename!r} (damaged file)")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        return info.header_offset + 30 + name_length + extra_length


def _strip_prefix(key: str) -> str:
    for prefix in STRIPPED_PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):]
    return key


# ------------------------------------------------------------------------------------------------ writing


@dataclass
class _Planned:
    """One output tensor: its name, shape and dtype, and a function yielding its data in consecutive row blocks."""

    name: str
    shape: tuple[int, ...]
    dtype: torch.dtype
    blocks: Callable[[], Iterator[torch.Tensor]]

    @property
    def nbytes(self) -> int:
        n = self.dtype.itemsize
        for size in self.shape:
            n *= size
        return n


def _write_safetensors(path: Path, tensors: list[_Planned]) -> None:
    """A safetensors file written block by block: the header first (every shape is known), then each tensor's bytes."""
    if sys.byteorder != "little":
        raise MotionGPTError("safetensors files are little-endian; this machine is not")
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for t in tensors:
        header[t.name] = {"dtype": _SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape),
                          "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for t in tensors:
            written = 0
            for block in t.blocks():
                block = block.to(t.dtype).contiguous()
                f.write(memoryview(block.view(torch.uint8).numpy()) if block.numel() else b"")
                written += block.numel() * t.dtype.itemsize
            if written != t.nbytes:
                raise RuntimeError(f"{t.name}: wrote {written} bytes, expected {t.nbytes}")


def _write_shards(directory: Path, tensors: list[_Planned], max_shard_bytes: int) -> None:
    """`model.safetensors`, or `model-0000K-of-0000N.safetensors` + the index transformers reads."""
    shards: list[list[_Planned]] = [[]]
    size = 0
    for t in tensors:
        if shards[-1] and size + t.nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(t)
        size += t.nbytes
    if len(shards) == 1:
        _write_safetensors(directory / "model.safetensors", shards[0])
        return
    weight_map = {}
    for k, shard in enumerate(shards, 1):
        name = f"model-{k:05d}-of-{len(shards):05d}.safetensors"
        _write_safetensors(directory / name, shard)
        weight_map.update({t.name: name for t in shard})
    write_json(directory / "model.safetensors.index.json",
               {"metadata": {"total_size": sum(t.nbytes for t in tensors)}, "weight_map": weight_map})


# ------------------------------------------------------------------------------------------------ layout


def meta_to_hf_rows(weight: torch.Tensor, n_head: int) -> torch.Tensor:
    """Reorder q or k rows from Meta's rotary layout (interleaved pairs per head) to Hugging Face's (halves).

    Works on any block of whole heads: within each head, row 2i + j moves to j * head_size / 2 + i.
    """
    rows, rest = weight.shape[0], weight.shape[1:]
    head = rows // n_head
    return weight.reshape(n_head, head // 2, 2, *rest).transpose(1, 2).reshape(rows, *rest)


def describe_size(layers: int, width: int) -> str:
    name = LLAMA_SIZES.get((layers, width))
    return f"{name} ({layers} layers, width {width})" if name else f"a LLaMA of {layers} layers, width {width}"


def _layer_count(keys, where: str, expected: str) -> int:
    found = {int(m.group(1)) for k in keys if (m := re.match(r"transformer\.h\.(\d+)\.", k))}
    if not found:
        raise MotionGPTError(f"{where}: no transformer.h.N.* keys; expected {expected}")
    return max(found) + 1


def _foreign_hint(keys) -> str:
    if any(k.startswith("model.layers.") or k == "model.embed_tokens.weight" for k in keys):
        return " (it looks like a Hugging Face LLaMA state dict: use its model dir directly)"
    return ""


@dataclass(frozen=True)
class LitBaseShape:
    vocab: int
    width: int
    hidden: int  # MLP width
    layers: int

    def expected(self) -> dict[str, tuple[int, ...]]:
        v, d, f = self.vocab, self.width, self.hidden
        shapes = {"transformer.wte.weight": (v, d), "lm_head.weight": (v, d), "transformer.ln_f.scale": (d,)}
        for i in range(self.layers):
            p = f"transformer.h.{i}."
            shapes.update({p + "rms_1.scale": (d,), p + "attn.c_attn.weight": (3 * d, d),
                           p + "attn.c_proj.weight": (d, d), p + "rms_2.scale": (d,),
                           p + "mlp.c_fc1.weight": (f, d), p + "mlp.c_fc2.weight": (f, d),
                           p + "mlp.c_proj.weight": (d, f)})
        return shapes


def check_base(state: dict[str, StoredTensor], where: str) -> LitBaseShape:
    """The sizes of a Lit-LLaMA base, read from its shapes; one-line errors name the key or shape at fault."""
    lora = next((k for k in state if ".lora_" in k), None)
    if lora is not None:
        raise MotionGPTError(f"{where}: holds LoRA weights ({lora}); convert the base with `convert lit-llama` and "
                             "the LoRA with `convert lit-lora`")
    for key in ("transformer.wte.weight", "transformer.h.0.mlp.c_fc1.weight"):
        if key not in state:
            raise MotionGPTError(f"{where}: key {key!r} missing{_foreign_hint(state)}; expected {BASE_EXPECTED}")
    vocab, width = state["transformer.wte.weight"].shape
    shape = LitBaseShape(vocab, width, state["transformer.h.0.mlp.c_fc1.weight"].shape[0],
                         _layer_count(state, where, BASE_EXPECTED))
    expected = shape.expected()
    for key, dims in expected.items():
        if key not in state:
            raise MotionGPTError(f"{where}: key {key!r} missing; expected {BASE_EXPECTED}")
        if tuple(state[key].shape) != dims:
            raise MotionGPTError(f"{where}: {key} has shape {tuple(state[key].shape)}, expected {dims} (vocabulary "
                                 f"{vocab}, width {width}, MLP width {shape.hidden})")
        if not state[key].dtype.is_floating_point:
            raise MotionGPTError(f"{where}: {key} holds {state[key].dtype}, expected floating-point weights")
    extra = [k for k in state if k not in expected and not k.startswith(UNUSED_PREFIXES)]
    if extra:
        raise MotionGPTError(f"{where}: unexpected key {extra[0]!r}; expected {BASE_EXPECTED}")
    return shape


def _head_count(width: int, n_head: int | None, where: str) -> int:
    if n_head is None:
        if width % HEAD_SIZE:
            raise MotionGPTError(f"{where}: width {width} is not a multiple of LLaMA's head size {HEAD_SIZE}; pass "
                                 "the number of attention heads (--n-head)")
        n_head = width // HEAD_SIZE
    if n_head < 1 or width % n_head or (width // n_head) % 2:
        raise MotionGPTError(f"{where}: {n_head} heads do not split width {width} into heads of even size")
    return n_head


def _row_blocks(tensor: StoredTensor, start: int, stop: int, block_bytes: int, unit: int = 1,
                permute_heads: bool = False) -> Callable[[], Iterator[torch.Tensor]]:
    """Blocks of rows start..stop of about `block_bytes` each, whole `unit`s of rows at a time (heads, permuted)."""
    row_bytes = tensor.dtype.itemsize
    for size in tensor.shape[1:]:
        row_bytes *= size
    step = max(unit, block_bytes // max(row_bytes, 1) // unit * unit)

    def blocks() -> Iterator[torch.Tensor]:
        if start == stop:
            yield tensor.rows(start, stop)
        for a in range(start, stop, step):
            block = tensor.rows(a, min(a + step, stop))
            yield meta_to_hf_rows(block, block.shape[0] // unit) if permute_heads else block

    return blocks


def _base_plan(state: dict[str, StoredTensor], shape: LitBaseShape, n_head: int, dtype: torch.dtype | None,
               block_bytes: int) -> list[_Planned]:
    d, head = shape.width, shape.width // n_head

    def plan(name: str, key: str, start: int | None = None, stop: int | None = None,
             rotary: bool = False) -> _Planned:
        source = state[key]
        a, b = (0, source.shape[0]) if start is None else (start, stop)
        blocks = _row_blocks(source, a, b, block_bytes, head if rotary else 1, rotary)
        return _Planned(name, (b - a, *source.shape[1:]), dtype or source.dtype, blocks)

    out = [plan("model.embed_tokens.weight", "transformer.wte.weight")]
    for i in range(shape.layers):
        lit, hf = f"transformer.h.{i}.", f"model.layers.{i}."
        out += [plan(hf + "input_layernorm.weight", lit + "rms_1.scale"),
                plan(hf + "self_attn.q_proj.weight", lit + "attn.c_attn.weight", 0, d, rotary=True),
                plan(hf + "self_attn.k_proj.weight", lit + "attn.c_attn.weight", d, 2 * d, rotary=True),
                plan(hf + "self_attn.v_proj.weight", lit + "attn.c_attn.weight", 2 * d, 3 * d),
                plan(hf + "self_attn.o_proj.weight", lit + "attn.c_proj.weight"),
                plan(hf + "post_attention_layernorm.weight", lit + "rms_2.scale"),
                plan(hf + "mlp.gate_proj.weight", lit + "mlp.c_fc1.weight"),
                plan(hf + "mlp.up_proj.weight", lit + "mlp.c_fc2.weight"),
                plan(hf + "mlp.down_proj.weight", lit + "mlp.c_proj.weight")]
    return out + [plan("model.norm.weight", "transformer.ln_f.scale"), plan("lm_head.weight", "lm_head.weight")]


def hf_config(shape: LitBaseShape, n_head: int, dtype: torch.dtype):
    """The `LlamaConfig` of a converted base: sizes from the shapes, LLaMA v1's eps, context and special ids."""
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=shape.vocab, hidden_size=shape.width, intermediate_size=shape.hidden,
                       num_hidden_layers=shape.layers, num_attention_heads=n_head, num_key_value_heads=n_head,
                       max_position_embeddings=MAX_POSITIONS, rms_norm_eps=RMS_EPS, rope_theta=10000.0,
                       tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=None,
                       dtype=str(dtype).removeprefix("torch."))


# ------------------------------------------------------------------------------------------------ tokenizer


def convert_tokenizer(model_file: str | Path, directory: str | Path, vocab_rows: int | None = None) -> None:
    """Save LLaMA's SentencePiece `tokenizer.model` as a Hugging Face LLaMA tokenizer, with the .model beside it."""
    model_file, directory = Path(model_file), Path(directory)
    if not model_file.is_file():
        raise MotionGPTError(f"{model_file}: tokenizer model not found")
    try:
        import google.protobuf  # noqa: F401  (reading a .model file needs both)
        import sentencepiece  # noqa: F401
    except ImportError as err:
        raise MotionGPTError("converting a SentencePiece tokenizer needs sentencepiece and protobuf "
                             "(pip install 'motiongpt[llama]')") from err
    from transformers import LlamaTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copyfile(model_file, Path(tmp) / "tokenizer.model")
        try:
            tokenizer = LlamaTokenizer.from_pretrained(tmp)
        except Exception as err:  # sentencepiece and the converter raise their own error types
            raise MotionGPTError(f"{model_file}: not a SentencePiece model ({str(err).strip().splitlines()[0]})") \
                from err
    if len(tokenizer) <= 3:
        raise MotionGPTError(f"{model_file}: not a SentencePiece model (no pieces read)")
    if vocab_rows is not None and len(tokenizer) > vocab_rows:
        raise MotionGPTError(f"{model_file}: {len(tokenizer)} pieces, but the checkpoint has only {vocab_rows} "
                             "embedding rows (a tokenizer of another model?)")
    tokenizer.save_pretrained(str(directory))
    shutil.copyfile(model_file, directory / "tokenizer.model")


# ------------------------------------------------------------------------------------------------ conversions


def convert_base(checkpoint: str | Path, out: str | Path, tokenizer: str | Path | None = None,
                 n_head: int | None = None, dtype: torch.dtype | None = None, overwrite: bool = False,
                 max_shard_bytes: int = SHARD_BYTES, block_bytes: int = BLOCK_BYTES) -> Path:
    """Write a Lit-LLaMA base checkpoint as a Hugging Face `LlamaForCausalLM` dir (safetensors + config.json).

    `n_head` defaults to width / 128 (true of every LLaMA v1 size); `dtype` to the checkpoint's own. The vocabulary
    keeps every row of the checkpoint (padded rows included). With `tokenizer` (LLaMA's `tokenizer.model`) the dir
    also gets the Hugging Face tokenizer, which encodes text exactly as SentencePiece does. Tensors are read and
    written `block_bytes` of rows at a time, so memory stays flat whatever the model's size.
    """
    checkpoint, out = Path(checkpoint), Path(out)
    with TorchArchive(checkpoint) as archive:
        state = archive.state_dict()
        shape = check_base(state, str(checkpoint))
        heads = _head_count(shape.width, n_head, str(checkpoint))
        planned = _base_plan(state, shape, heads, dtype, block_bytes)
        with atomic_directory(out, overwrite=overwrite) as tmp:
            if tokenizer is not None:
                convert_tokenizer(tokenizer, tmp, shape.vocab)
            _write_shards(tmp, planned, max_shard_bytes)
            hf_config(shape, heads, planned[0].dtype).save_pretrained(str(tmp))
    return out


def _base_sizes(base: Path) -> tuple[int, int, int]:
    """(layers, width, heads) of a Hugging Face LLaMA dir."""
    config = read_json(base / "config.json")
    if config.get("model_type") != "llama":
        raise MotionGPTError(f"{base}/config.json: model_type {config.get('model_type')!r}; the original's LoRA fits "
                             "a LLaMA base (convert lit-llama.pth first)")
    try:
        return (int(config["num_hidden_layers"]), int(config["hidden_size"]), int(config["num_attention_heads"]))
    except KeyError as err:
        raise MotionGPTError(f"{base}/config.json: no {err.args[0]}") from err


def check_lora(state: dict[str, StoredTensor], where: str) -> tuple[int, int, int]:
    """(layers, width, rank) of a Lit-LLaMA LoRA; one-line errors name the key or shape at fault."""
    pairs: dict[int, dict[str, StoredTensor]] = {}
    for key, tensor in state.items():
        if key.startswith(UNUSED_PREFIXES):
            continue
        m = re.fullmatch(r"transformer\.h\.(\d+)\.attn\.c_attn\.lora_([AB])", key)
        if m is None:
            if key in ("transformer.wte.weight", "lm_head.weight") or key.endswith("c_attn.weight"):
                raise MotionGPTError(f"{where}: holds base weights ({key}); convert it with `convert lit-llama`, "
                                     "and the LoRA (pretrained.pth) with `convert lit-lora`")
            raise MotionGPTError(f"{where}: unexpected key {key!r}; expected {LORA_EXPECTED}")
        pairs.setdefault(int(m.group(1)), {})[m.group(2)] = tensor
    if not pairs:
        raise MotionGPTError(f"{where}: no LoRA weights; expected {LORA_EXPECTED}")
    layers = max(pairs) + 1
    width = rank = None
    for i in range(layers):
        key = f"transformer.h.{i}.attn.c_attn.lora_"
        pair = pairs.get(i, {})
        for part, other in (("A", "B"), ("B", "A")):
            if part not in pair:
                raise MotionGPTError(f"{where}: {key}{part} missing" +
                                     (f" (the file has {key}{other}: a LoRA needs both)" if other in pair else ""))
        a, b = pair["A"].shape, pair["B"].shape
        if len(a) != 2 or a[0] % 2:
            raise MotionGPTError(f"{where}: {key}A has shape {tuple(a)}, expected (2r, width): r rows for q, r for v")
        if width is None:
            width, rank = a[1], a[0] // 2
        if tuple(a) != (2 * rank, width):
            raise MotionGPTError(f"{where}: {key}A has shape {tuple(a)}, expected {(2 * rank, width)} like layer 0")
        if tuple(b) != (2 * width, rank):
            raise MotionGPTError(f"{where}: {key}B has shape {tuple(b)}, expected {(2 * width, rank)} (2 x width, r) "
                                 f"to match {key}A {tuple(a)}")
    return layers, width, rank


def convert_lora(checkpoint: str | Path, base: str | Path, out: str | Path, alpha: float = 16.0,
                 overwrite: bool = False) -> Path:
    """Write a Lit-LLaMA LoRA (q and v of the fused c_attn) as a PEFT adapter dir for `q_proj`/`v_proj` of `base`.

    r is read from the shapes; alpha is not stored by the original (the paper's is 16), so it is given here.
    The q rows of B are reordered like q's weight; A is per input feature and needs no change.
    """
    from peft import LoraConfig
    from safetensors.torch import save_file

    checkpoint, base, out = Path(checkpoint), Path(base), Path(out)
    if not alpha > 0:
        raise MotionGPTError(f"alpha {alpha}: must be positive")
    layers, width, heads = _base_sizes(base)
    with TorchArchive(checkpoint) as archive:
        state = archive.state_dict()
        lora_layers, lora_width, rank = check_lora(state, str(checkpoint))
        if (lora_layers, lora_width) != (layers, width):
            raise MotionGPTError(f"{checkpoint}: a LoRA for {describe_size(lora_layers, lora_width)}, but {base} is "
                                 f"{describe_size(layers, width)}; use the base of the LoRA's size")
        tensors = {}
        for i in range(layers):
            a = state[f"transformer.h.{i}.attn.c_attn.lora_A"].load().float()
            b = state[f"transformer.h.{i}.attn.c_attn.lora_B"].load().float()
            prefix = f"base_model.model.model.layers.{i}.self_attn."
            tensors[prefix + "q_proj.lora_A.weight"] = a[:rank].contiguous()
            tensors[prefix + "q_proj.lora_B.weight"] = meta_to_hf_rows(b[:width], heads).contiguous()
            tensors[prefix + "v_proj.lora_A.weight"] = a[rank:].contiguous()
            tensors[prefix + "v_proj.lora_B.weight"] = b[width:].contiguous()
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(LORA_TARGETS), bias="none",
                        task_type="CAUSAL_LM")
    with atomic_directory(out, overwrite=overwrite) as tmp:
        config.save_pretrained(str(tmp))
        save_file(tensors, str(tmp / "adapter_model.safetensors"), metadata={"format": "pt"})
    return out


def check_adapter_fits(adapter: str | Path, base: str | Path) -> None:
    """A one-line error when a PEFT LoRA adapter was made for another LLaMA size than `base`."""
    from safetensors import safe_open

    adapter, base = Path(adapter), Path(base)
    config = read_json(adapter / "adapter_config.json")
    if config.get("peft_type") != "LORA":
        raise MotionGPTError(f"{adapter}/adapter_config.json: peft_type {config.get('peft_type')!r}, expected LORA")
    weights = adapter / "adapter_model.safetensors"
    if not weights.is_file():
        raise MotionGPTError(f"{weights}: not found")
    layers, width, _ = _base_sizes(base)
    with safe_open(str(weights), framework="pt") as f:
        keys = list(f.keys())
        found = {int(m.group(1)) for k in keys if (m := re.search(r"layers\.(\d+)\.", k))}
        a_key = next((k for k in keys if ".lora_A." in k), None)
        lora_width = f.get_slice(a_key).get_shape()[1] if a_key else width
    lora_layers = max(found) + 1 if found else layers
    if (lora_layers, lora_width) != (layers, width):
        raise MotionGPTError(f"{adapter}: a LoRA for {describe_size(lora_layers, lora_width)}, but {base} is "
                             f"{describe_size(layers, width)}; use the base of the LoRA's size")


def _tokenizer_files(directory: Path) -> list[Path]:
    names = ("special_tokens_map.json", "added_tokens.json")
    return [p for p in directory.iterdir() if p.is_file() and (p.name.startswith("tokenizer") or p.name in names)]


def write_llm_dir(directory: str | Path, base: str | Path, adapter: str | Path | None, codebook_size: int) -> dict:
    """Lay out a converted base (and adapter) as `motiongpt finetune` lays out its output, for a model dir.

    The metadata says the answers are in the paper's `text` format and were tokenised together with the prompt,
    as the original did (the first digit follows `### Response:` with no SentencePiece word-start token), so
    constrained decoding spells them as the model learned them.
    """
    from motiongpt.llm.finetuned import META_NAME

    directory, base = Path(directory), Path(base)
    if not (base / "config.json").is_file():
        raise MotionGPTError(f"{base}: not a model dir (no config.json); make one with `motiongpt convert lit-llama`")
    if not _tokenizer_files(base):
        raise MotionGPTError(f"{base}: no tokenizer; convert the base again with --tokenizer tokenizer.model")
    ignore = shutil.ignore_patterns(".*")
    if adapter is None:
        shutil.copytree(base, directory, ignore=ignore)
        meta = {"kind": "full"}
    else:
        adapter = Path(adapter)
        if not (adapter / "adapter_config.json").is_file():
            raise MotionGPTError(f"{adapter}: not an adapter dir (no adapter_config.json); make one with "
                                 "`motiongpt convert lit-lora`")
        check_adapter_fits(adapter, base)
        shutil.copytree(base, directory / "base", ignore=ignore)
        for path in [adapter / "adapter_config.json", adapter / "adapter_model.safetensors", *_tokenizer_files(base)]:
            shutil.copyfile(path, directory / path.name)
        meta = {"kind": "lora", "base": "base"}
    meta.update({"format": "text", "codebook_size": int(codebook_size), "tokenizer": ".",
                 "answer_follows_prompt": True, "source": "the original MotionGPT release (Lit-LLaMA weights)"})
    write_json(directory / META_NAME, meta)
    return meta
