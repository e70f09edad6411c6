"""An untrained tiny MotionGPT model dir (random VQ-VAE + tiny LLaMA) and the web app serving it on loopback."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from motiongpt.generation.pipeline import MotionGPT

CODEBOOK = 256
EXAMPLES = ["a person walks forward.", "a person waves the right hand.", "a person bows."]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, make_tiny_motiongpt) -> Path:
    """A saved text-format model dir with an examples.txt, as `motiongpt serve --model` reads it."""
    out = tmp_path_factory.mktemp("app-model") / "tiny"
    make_tiny_motiongpt("text", CODEBOOK, EXAMPLES, [7, 42], 6).save_pretrained(out)
    (out / "examples.txt").write_text("\n".join(EXAMPLES) + "\n")
    return out


@pytest.fixture(scope="session")
def model(model_dir) -> MotionGPT:
    return MotionGPT.from_pretrained(model_dir)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(app):
    """`app` on 127.0.0.1:<free port>, run by uvicorn in a thread; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def serve():
    """`serving`, for tests that serve a model of their own."""
    return serving


@pytest.fixture(scope="session")
def live_server(model, model_dir, tmp_path_factory):
    """The app serving the tiny model; yields its base URL."""
    from motiongpt.app.server import create_app, load_examples

    with serving(create_app(model, load_examples(model_dir), capacity=16,
                            store_root=tmp_path_factory.mktemp("results"))) as url:
        yield url
