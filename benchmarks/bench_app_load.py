"""Web app under load on loopback: N generate requests from C concurrent clients against `motiongpt serve`.

Usage: python benchmarks/bench_app_load.py [--model DIR | --stand-in] [--requests 50] [--clients 8] [--max-codes 49]

The server runs as its own process (`python -m motiongpt serve`). Every request has its own seed; afterwards each
result's codes are compared with a direct `MotionGPT.generate` call with that seed, and its downloaded motion.npy
with the joints it returned. While the load runs, /api/health is polled to show that the event loop stays
responsive. Without --model the bundled model serves the page's example descriptions. --stand-in builds an untrained
model instead (original-size VQ-VAE, the `small` LLaMA base); it would stop after a code or two, so its requests
carry key tokens (default 5,17,42,99), which keep constrained decoding going to about --max-codes codes, the length
of a trained model's longest motions.
Prints and writes benchmarks/results/app_load.json; exits non-zero on any failure or mismatch.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import torch

from motiongpt.app.server import default_examples
from motiongpt.generation.models import BUNDLED_MODEL, DEFAULT_MODEL
from motiongpt.generation.pipeline import MotionGPT
from motiongpt.llm.base import build_base
from motiongpt.llm.formats import build_prompt
from motiongpt.llm.tasks import Task
from motiongpt.tokenizer import VQVAE, VQVAEConfig

RESULTS = Path(__file__).resolve().parent / "results"


def standin_model(out: Path) -> Path:
    """An untrained model dir: original-size VQ-VAE (512 codes), `small` base, text answers."""
    torch.manual_seed(0)
    vq = VQVAE(VQVAEConfig(), mean=np.zeros(263, np.float32), std=np.full(263, 0.1, np.float32))
    texts = [build_prompt(instruction, caption, None, "text") + " 12 345 67 8"
             for caption in default_examples() for instruction in (t.instruction for t in Task)]
    llm, tokenizer = build_base("small", texts, seed=0)
    MotionGPT(vq.eval(), llm, tokenizer, "text").save_pretrained(out)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode}")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not answer within {timeout:.0f} s")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model dir (default: the bundled model)")
    parser.add_argument("--stand-in", action="store_true", help="an untrained model of the original's sizes")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-codes", type=int, default=49)
    parser.add_argument("--key-tokens", default=None,
                        help="key tokens sent with every request (default: none; 5,17,42,99 for the stand-in)")
    parser.add_argument("--out", type=Path, default=RESULTS / "app_load.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    key_text = args.key_tokens if args.key_tokens is not None or not args.stand_in else "5,17,42,99"
    key_tokens = [int(k) for k in key_text.split(",")] if key_text else None
    fields = {"max_codes": str(args.max_codes), **({"key_tokens": key_text} if key_text else {})}

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = standin_model(Path(tmp) / "model") if args.stand_in else (args.model or BUNDLED_MODEL)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([sys.executable, "-m", "motiongpt", "serve", "--model", str(model_dir),
                                   "--port", str(port), "--max-results", str(args.requests)],
                                  env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
        try:
            started = time.perf_counter()
            wait_healthy(url, server)
            startup_s = time.perf_counter() - started
            texts = httpx.get(f"{url}/api/info").json()["examples"]
            jobs = [(texts[i % len(texts)], 1000 + i) for i in range(args.requests)]
            client = httpx.Client(base_url=url, timeout=300, limits=httpx.Limits(max_connections=args.clients + 2))

            def post(job: tuple[str, int]) -> dict:
                text, seed = job
                t0 = time.perf_counter()
                try:
                    response = client.post("/api/generate", data={"text": text, "seed": str(seed), **fields})
                    latency = time.perf_counter() - t0
                    if response.status_code != 200:
                        return {"text": text, "seed": seed, "error": f"{response.status_code}: {response.text}"}
                    result = response.json()["results"][0]
                    saved = np.load(io.BytesIO(client.get(result["files"]["npy"]).content))
                    same_file = bool(np.allclose(saved, np.asarray(result["joints"]), atol=1e-4))
                    return {"text": text, "seed": seed, "latency_s": latency, "codes": result["codes"],
                            "result_seed": result["seed"], "same_file": same_file}
                except httpx.HTTPError as err:
                    return {"text": text, "seed": seed, "error": f"{type(err).__name__}: {err}"}

            health: list[float] = []
            done = threading.Event()

            def poll_health() -> None:
                while not done.is_set():
                    t0 = time.perf_counter()
                    client.get("/api/health")
                    health.append(time.perf_counter() - t0)
                    done.wait(0.1)

            poller = threading.Thread(target=poll_health)
            poller.start()
            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.clients) as pool:
                outcomes = list(pool.map(post, jobs))
            wall = time.perf_counter() - t0
            done.set()
            poller.join()
            client.close()
        finally:
            server.terminate()
            server.wait(timeout=30)

        # Row j of one batched call uses seed 1000 + j, as request j did (batching does not change the codes).
        reference = MotionGPT.from_pretrained(model_dir)
        direct = reference.generate([text for text, _ in jobs], seed=1000, max_codes=args.max_codes,
                                    key_tokens=key_tokens)
        failures = [o for o in outcomes if "error" in o]
        mismatches = [{"text": o["text"], "seed": o["seed"]} for o, d in zip(outcomes, direct) if "error" not in o
                      and (d.codes != o["codes"] or not o["result_seed"] == d.seed == o["seed"] or not o["same_file"])]

    latencies = [o["latency_s"] for o in outcomes if "latency_s" in o]
    report = {
        "model": "untrained stand-in (VQ-VAE 512 codes, small base)" if args.stand_in else str(args.model or DEFAULT_MODEL),
        "requests": args.requests, "clients": args.clients, "max_codes": args.max_codes, "key_tokens": key_tokens,
        "startup_s": round(startup_s, 3), "wall_s": round(wall, 3),
        "throughput_rps": round(len(latencies) / wall, 3),
        "latency_s": {"p50": round(percentile(latencies, 50), 4), "p95": round(percentile(latencies, 95), 4),
                      "max": round(max(latencies, default=float("nan")), 4)},
        "health_latency_s": {"p50": round(percentile(health, 50), 4), "p95": round(percentile(health, 95), 4),
                             "polls": len(health)},
        "mean_codes": round(float(np.mean([len(o["codes"]) for o in outcomes if "codes" in o] or [0])), 2),
        "failures": len(failures), "mismatches": len(mismatches),
        "failure_examples": [f["error"][:200] for f in failures[:3]], "mismatch_examples": mismatches[:3],
        "cpu_count": os.cpu_count(), "torch_threads_server": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    print(json.dumps(report, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    if failures or mismatches:
        raise SystemExit(f"{len(failures)} failed requests, {len(mismatches)} results that differ from direct calls")


if __name__ == "__main__":
    main()
