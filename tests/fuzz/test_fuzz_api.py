"""The web API under hostile requests: never a 5xx; a 4xx carries one line; a 200 carries finite motions; the
result store is gone after shutdown. And the event loop stays free while a request's pose is converted.

Over 150 requests against the real app serving the bundled model: issue #16's cases by name, then seeded random
mixes of valid and hostile form fields and uploads.
"""

from __future__ import annotations

import io
import random
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient

from motiongpt.app import server
from motiongpt.app.server import create_app
from motiongpt.limits import MAX_UPLOAD_BYTES

from .conftest import SEED, finite

INT_FIELDS = ["num_samples", "seed", "init_token", "last_token", "key_tokens", "max_codes", "top_k",
              "init_pose_frame", "last_pose_frame", "frames", "seconds"]
HOSTILE = ["9" * 5000, "-1", "0", "1e308", "inf", "nan", "5e-324", "18446744073709551616", "abc", "", "1.5",
           "٣", "1,2,,3", "<script>", "$x$", "\x00", "99999"]
RANDOM_CASES = 110


def npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def uploads() -> dict[str, bytes]:
    rng = np.random.default_rng(SEED)
    joints = (rng.standard_normal((16, 22, 3)) * 0.1 + [0, 1, 0]).astype(np.float32)
    npz = io.BytesIO()
    np.savez(npz, a=joints, b=joints)
    return {"good": npy_bytes(joints), "complex": npy_bytes(joints.astype(np.complex64)),
            "huge-values": npy_bytes(np.full((16, 22, 3), 1e300)), "npz": npz.getvalue(),
            "pickle": npy_bytes(np.array([{"a": 1}], dtype=object), allow_pickle=True), "garbage": b"\x93NUMPY" * 9,
            "too-many-frames": npy_bytes(np.zeros((13_000, 22, 3), np.float32)), "empty": b""}


def named_requests() -> dict[str, dict]:
    files = uploads()
    text = {"text": "a person walks forward.", "max_codes": "4", "seed": "1"}
    cases = {f"{name}-5000-digits": {"data": {**text, name: "9" * 5000}} for name in INT_FIELDS}
    cases.update({f"temperature-{v}": {"data": {**text, "temperature": v}} for v in ("1e308", "inf", "nan", "5e-324")})
    cases.update({f"pose-{kind}": {"data": text, "files": {"init_pose": ("p.npy", data)}}
                  for kind, data in files.items() if kind != "good"})
    cases["pose-frame-outside"] = {"data": {**text, "init_pose_frame": "400"},
                                   "files": {"init_pose": ("p.npy", files["good"])}}
    cases["text-empty"] = {"data": {"text": ""}}
    cases["text-20000-chars"] = {"data": {"text": "walk " * 4000}}
    cases["text-invalid-utf8"] = {"content": b"text=a+person+%FF%FE+walks&max_codes=3",
                                  "headers": {"content-type": "application/x-www-form-urlencoded"}}
    cases["json-body"] = {"json": {"text": "a person walks"}}
    cases["multipart-no-boundary"] = {"content": b"--x\r\n", "headers": {"content-type": "multipart/form-data"}}
    cases["content-length-lies"] = {"content": b"text=a", "headers": {"content-length": "99999999999999999999"}}
    return cases


def random_request(rng: random.Random, good: bytes) -> dict:
    data = {"text": rng.choice(["a person walks forward.", "someone jogs", "$\\alpha$ waves", "🚶", "x" * 50]),
            "max_codes": str(rng.randrange(1, 9)), "seed": str(rng.randrange(2**32))}
    if rng.random() < 0.3:
        data[rng.choice(["init_token", "last_token"])] = str(rng.randrange(0, 600))
    if rng.random() < 0.2:
        data["key_tokens"] = ",".join(str(rng.randrange(0, 520)) for _ in range(rng.randrange(1, 4)))
    if rng.random() < 0.3:
        data["temperature"], data["top_k"] = f"{rng.uniform(0.05, 3):.2f}", str(rng.randrange(0, 300))
    if rng.random() < 0.2:
        data["num_samples"] = str(rng.randrange(1, 4))
    for _ in range(rng.choice([0, 0, 1, 2])):
        data[rng.choice(INT_FIELDS + ["temperature", "text"])] = rng.choice(HOSTILE)
    request = {"data": data}
    if rng.random() < 0.2:
        request["files"] = {"init_pose": ("pose.npy", good)}
        data["init_pose_frame"] = str(rng.randrange(0, 14))
    return request


@pytest.fixture()
def app(bundled, tmp_path):
    return create_app(bundled, capacity=8, store_root=tmp_path)


def check(response, name: str, failures: list[str], outcomes: dict[str, int]) -> None:
    status = response.status_code
    outcomes[f"{status // 100}xx"] = outcomes.get(f"{status // 100}xx", 0) + 1
    if status >= 500:
        failures.append(f"{name}: {status} {response.text[:200]}")
    elif status >= 400:
        error = response.json().get("error", "")
        if not error or "\n" in error or "Traceback" in error:
            failures.append(f"{name}: error {error[:200]!r}")
    elif response.headers.get("content-type", "").startswith("application/json") and \
            isinstance(response.json().get("results"), list):
        for result in response.json()["results"]:
            if not finite(result["joints"]):
                failures.append(f"{name}: NaN joints")


def test_api_requests_fuzz(app, tmp_path):
    rng = random.Random(SEED)
    good = uploads()["good"]
    failures, outcomes = [], {}
    total = 0
    with TestClient(app, raise_server_exceptions=False) as client:
        requests = [*named_requests().items(),
                    *((f"random-{k}", random_request(rng, good)) for k in range(RANDOM_CASES))]
        for name, request in requests:
            check(client.post("/api/generate", **request), name, failures, outcomes)
            total += 1
        dollar = client.post("/api/generate", data={"text": "the $x^2$ dancer $\\frac{1}{0}$", "max_codes": "3"})
        check(dollar, "dollar-title", failures, outcomes)
        rid = dollar.json()["results"][0]["id"]
        paths = [f"/api/results/{rid}/motion.gif", f"/api/results/{rid}/motion.mp4", f"/api/results/{rid}/x.npy",
                 "/api/results/0000/motion.npy", f"/api/results/{rid}/..%2f..%2fetc%2fpasswd",
                 "/api/results/../../etc/passwd", "/static/../../pyproject.toml", "/api/health", "/api/info", "/",
                 "/nope", "/api/results/%00/motion.npy"]
        for path in paths:
            check(client.get(path), f"GET {path}", failures, outcomes)
            total += 1
        for method, path in (("get", "/api/generate"), ("post", "/api/health"), ("delete", "/api/info")):
            check(getattr(client, method)(path), f"{method} {path}", failures, outcomes)
            total += 1
        store = app.state.service.store.root
        assert store.is_dir()
    print(f"API fuzz: {total + 1} requests, {outcomes}, {len(failures)} failures")
    assert total >= 150
    assert not failures, failures[:20]
    assert not store.exists() and not list(tmp_path.iterdir())


def test_an_upload_over_the_limit_is_refused_while_it_streams(app):
    sent = {"bytes": 0}

    def body():
        chunk = b"\0" * 2**20
        for _ in range(MAX_UPLOAD_BYTES // 2**20 + 16):
            sent["bytes"] += len(chunk)
            yield chunk

    with TestClient(app) as client:
        response = client.post("/api/generate", content=body(),
                               headers={"content-type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413 and "MiB" in response.json()["error"]
    with TestClient(app) as client:
        declared = client.post("/api/generate", content=b"x" * 10,
                               headers={"content-length": str(MAX_UPLOAD_BYTES + 1)})
    assert declared.status_code == 413


def test_health_answers_while_a_pose_is_converted(app, monkeypatch):
    """The pose conversion runs off the event loop: /api/health answers while it is held up."""
    started, release = threading.Event(), threading.Event()
    convert = server.pose_features

    def held(*args, **kwargs):
        started.set()
        release.wait(30)
        return convert(*args, **kwargs)

    monkeypatch.setattr(server, "pose_features", held)
    result = {}
    with TestClient(app) as client:
        def post():
            files = {"init_pose": ("p.npy", uploads()["good"])}
            result["response"] = client.post("/api/generate", data={"text": "a person walks", "max_codes": "3"},
                                             files=files)

        worker = threading.Thread(target=post)
        worker.start()
        assert started.wait(30)
        health = client.get("/api/health")
        release.set()
        worker.join(60)
    assert health.status_code == 200 and result["response"].status_code == 200
