"""An untrained tiny MotionGPT model dir (random VQ-VAE + tiny LLaMA) and the web app serving it on loopback."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from motiongpt.generation.pipeline import MotionGPT
from motiongpt.llm.base import build_base
from motiongpt.llm.formats import build_prompt, format_codes
from motiongpt.llm.prompts import INSTRUCTIONS
from motiongpt.tokenizer.model import VQVAE, VQVAEConfig

CODEBOOK = 256
EXAMPLES = ["a person walks forward.", "a person waves the right hand.", "a person bows."]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A saved text-format model dir with an examples.txt, as `motiongpt serve --model` reads it."""
    torch.manual_seed(0)
    vq = VQVAE(VQVAEConfig(nb_code=CODEBOOK, code_dim=16, width=24, depth=2),
               mean=np.zeros(263, np.float32), std=np.full(263, 0.1, np.float32))
    rng = np.random.default_rng(0)
    texts = [build_prompt(INSTRUCTIONS[task], caption, None if task == "t2m" else [7, 42], "text") +
             format_codes(rng.integers(0, CODEBOOK, 6).tolist(), "text")
             for caption in EXAMPLES for task in INSTRUCTIONS]
    llm, tokenizer = build_base("tiny", texts, seed=0)
    out = tmp_path_factory.mktemp("app-model") / "tiny"
    MotionGPT(vq.eval(), llm, tokenizer, "text").save_pretrained(out)
    (out / "examples.txt").write_text("\n".join(EXAMPLES) + "\n")
    return out


@pytest.fixture(scope="session")
def model(model_dir) -> MotionGPT:
    return MotionGPT.from_pretrained(model_dir)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(model, model_dir, tmp_path_factory):
    """The app on 127.0.0.1:<free port>, run by uvicorn in a thread; yields its base URL."""
    import uvicorn

    from motiongpt.app.server import create_app, load_examples

    app = create_app(model, load_examples(model_dir), capacity=16, store_root=tmp_path_factory.mktemp("results"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web app did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(timeout=10)
