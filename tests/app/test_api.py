"""The JSON API over HTTP on loopback: one-line 400s for bad input, results that match direct pipeline calls (also
under concurrent requests), pose uploads, downloads, the bounded result store and the offline page."""

from __future__ import annotations

import io
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web app needs the `app` extra: pip install 'motiongpt[app]'")
httpx = pytest.importorskip("httpx", reason="the API tests need httpx")

from motiongpt.app.server import create_app  # noqa: E402
from motiongpt.cli import main  # noqa: E402
from motiongpt.generation.pipeline import MotionGPT  # noqa: E402


@pytest.fixture(scope="module")
def reference(model_dir) -> MotionGPT:
    """A second instance of the model, for direct calls that the server's results must match."""
    return MotionGPT.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def client(live_server):
    with httpx.Client(base_url=live_server, timeout=60) as c:
        yield c


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def test_health_info_and_offline_page(client, model_dir, reference):
    assert client.get("/api/health").json()["status"] == "ok"
    info = client.get("/api/info").json()
    assert info["examples"] == (model_dir / "examples.txt").read_text().splitlines()
    assert info["codebook_size"] == reference.codebook_size and len(info["skeleton"]["parents"]) == 22
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assets = [url for url in re.findall(r'(?:src|href)="([^"]+)"', page.text) if not url.startswith("data:")]
    assert sorted(assets) == ["/static/app.js", "/static/style.css", "/static/viewer.js"]
    for url in assets:
        body = client.get(url)
        assert body.status_code == 200 and body.text
        assert not re.search(r"https?://|//cdn", body.text), f"{url} refers to a remote resource"
    assert not re.search(r"https?://", page.text)


BAD_INPUTS = [
    ({"text": ""}, "description"),
    ({"text": "   "}, "description"),
    ({"text": "a person walks.", "init_token": "{n}"}, "initial token {n}: outside the codebook"),
    ({"text": "a person walks.", "last_token": "abc"}, "last token 'abc'"),
    ({"text": "a person walks.", "init_token": "3,4"}, "expected one code"),
    ({"text": "a person walks.", "key_tokens": "1,x,3"}, "key tokens '1,x,3'"),
    ({"text": "a person walks.", "key_tokens": "1,999"}, "key token 999: outside the codebook"),
    ({"text": "a person walks.", "num_samples": "0"}, "number of samples 0"),
    ({"text": "a person walks.", "seed": "one"}, "seed 'one': expected a whole number"),
    ({"text": "a person walks.", "max_codes": "500"}, "max codes 500"),
    ({"text": "a person walks.", "key_tokens": "1,2,3", "max_codes": "2"}, "at least 3 codes"),
    ({"text": "a person walks.", "temperature": "0"}, "temperature 0.0: expected a finite number in 0.001..100"),
    ({"text": "a person walks.", "guidance": "-1"}, "guidance -1.0: expected a finite number in 0..10"),
    ({"text": "a person walks.", "init_pose_frame": "3"}, "no init pose file"),
]


@pytest.mark.parametrize("fields,expected", BAD_INPUTS, ids=[f"{i}" for i in range(len(BAD_INPUTS))])
def test_bad_form_fields_give_a_one_line_400(client, reference, fields, expected):
    """"{n}" stands for the codebook size (the first code outside it)."""
    n = reference.codebook_size
    fields = {k: v.replace("{n}", str(n)) for k, v in fields.items()}
    expected = expected.replace("{n}", str(n))
    response = client.post("/api/generate", data=fields)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert expected in error and "\n" not in error and "Traceback" not in error


@pytest.mark.parametrize("content,expected", [
    (npy_bytes(np.zeros((10, 5), np.float32)), "array of shape (10, 5), expected joints (T, 22, 3)"),
    (npy_bytes(np.zeros((3, 22, 3), np.float32)), "3 frames of joints, expected at least 5"),
    (npy_bytes(np.full((8, 263), np.nan, np.float32)), "NaN"),
    (b"this is not a numpy file", "not a .npy array"),
], ids=["wrong-shape", "too-short", "nan", "not-npy"])
def test_bad_pose_uploads_give_a_one_line_400(client, content, expected):
    response = client.post("/api/generate", data={"text": "a person walks."},
                           files={"init_pose": ("pose.npy", content, "application/octet-stream")})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "init pose (pose.npy)" in error and expected in error and "\n" not in error
    assert client.get("/api/health").json()["status"] == "ok"


def test_generate_matches_a_direct_call_and_serves_every_file(client, reference):
    fields = {"text": "a person waves the right hand.", "seed": "11", "num_samples": "2", "key_tokens": "5,77",
              "max_codes": "12", "guidance": "2.5"}
    body = client.post("/api/generate", data=fields).json()
    direct = reference.generate("a person waves the right hand.", seed=11, num_samples=2, key_tokens=[5, 77],
                                max_codes=12, guidance=2.5)
    assert [r["seed"] for r in body["results"]] == [11, 12]
    assert [r["codes"] for r in body["results"]] == [d.codes for d in direct]
    first = body["results"][0]
    joints = np.asarray(first["joints"])
    assert joints.shape == (4 * len(first["codes"]), 22, 3) == direct[0].joints.shape
    np.testing.assert_allclose(joints, direct[0].joints, atol=1e-4)

    files = {kind: client.get(url) for kind, url in first["files"].items()}
    assert all(r.status_code == 200 for r in files.values()), {k: r.status_code for k, r in files.items()}
    np.testing.assert_allclose(np.load(io.BytesIO(files["npy"].content)), direct[0].joints, atol=1e-6)
    assert files["bvh"].text.startswith("HIERARCHY")
    assert f"Frames: {len(joints)}" in files["bvh"].text
    assert files["glb"].content[:4] == b"glTF"
    assert files["gif"].content[:6] in (b"GIF87a", b"GIF89a")
    assert files["mp4"].content[4:8] == b"ftyp"
    assert files["json"].json()["codes"] == first["codes"]
    assert 'filename="a-person-waves-the-right-hand_seed11.bvh"' in files["bvh"].headers["content-disposition"]
    assert client.get(f"/api/results/{first['id']}/secret.txt").status_code == 404
    assert client.get("/api/results/0123456789abcdef/motion.bvh").status_code == 404


def test_concurrent_requests_get_their_own_results(client, reference):
    texts = ["a person walks forward.", "a person waves the right hand.", "a person bows."]
    jobs = [(texts[i % len(texts)], 100 + i) for i in range(8)]

    def post(job):
        text, seed = job
        response = client.post("/api/generate", data={"text": text, "seed": str(seed), "max_codes": "10"})
        assert response.status_code == 200, response.text
        return response.json()["results"][0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(post, jobs))
    assert len({r["id"] for r in results}) == len(jobs)
    for (text, seed), result in zip(jobs, results):
        assert (result["caption"], result["seed"]) == (text, seed)
        assert result["codes"] == reference.generate(text, seed=seed, max_codes=10)[0].codes
        saved = np.load(io.BytesIO(client.get(result["files"]["npy"]).content))
        np.testing.assert_allclose(saved, np.asarray(result["joints"]), atol=1e-4)


def test_uploaded_pose_at_a_frame_sets_the_control_code(client, reference, tmp_path):
    clip = reference.decode([3, 50, 120, 7, 200, 99])[1]  # 24 frames of joints
    path = tmp_path / "clip.npy"
    np.save(path, clip)
    expected = reference.controls(init_pose=f"{path}:8", last_pose=str(path))
    response = client.post("/api/generate", data={"text": "a person bows.", "seed": "5", "init_pose_frame": "8"},
                           files={"init_pose": ("clip.npy", path.read_bytes()),
                                  "last_pose": ("clip.npy", path.read_bytes())})
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert (result["controls"]["init"], result["controls"]["last"]) == (expected.init, expected.last)
    assert result["codes"][0] == expected.init and result["codes"][-1] == expected.last
    too_far = client.post("/api/generate", data={"text": "a person bows.", "init_pose_frame": "20"},
                          files={"init_pose": ("clip.npy", path.read_bytes())})
    assert too_far.status_code == 400 and "frame 20 leaves fewer than 4 frames" in too_far.json()["error"]


def test_the_result_store_keeps_only_the_most_recent(model, tmp_path):
    from fastapi.testclient import TestClient

    app = create_app(model, capacity=2, store_root=tmp_path)
    with TestClient(app) as local:
        ids = [local.post("/api/generate", data={"text": "a person walks.", "seed": str(s), "max_codes": "4"})
               .json()["results"][0]["id"] for s in range(3)]
        gone = local.get(f"/api/results/{ids[0]}/motion.bvh")
        assert gone.status_code == 404 and "not found" in gone.json()["error"]
        assert all(local.get(f"/api/results/{i}/motion.bvh").status_code == 200 for i in ids[1:])
        assert sorted(p.name for p in next(tmp_path.iterdir()).iterdir()) == sorted(ids[1:])
        assert local.get("/api/info").json()["examples"][0] == "a person walks forward."  # the Bandai defaults
    assert list(tmp_path.iterdir()) == []  # the store is removed at shutdown


def test_serve_reports_a_bad_model_dir_in_one_line(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("motiongpt: error:") and "not a MotionGPT model dir" in err and "\n" not in err


def test_the_bundled_model_serves_its_examples_and_says_how_it_read_a_description(tmp_path):
    """`motiongpt serve` without --model: the bundled model, its examples, and the caption it matched."""
    from fastapi.testclient import TestClient

    from motiongpt.app.server import load_examples

    bundled = MotionGPT.from_pretrained()
    with TestClient(create_app(bundled, load_examples(None), store_root=tmp_path)) as c:
        assert c.get("/api/info").json()["examples"][0] == "a happy person waves with both hands"
        (result,) = c.post("/api/generate", data={"text": "someone jogs", "seed": "4"}).json()["results"]
        (direct,) = bundled.generate("someone jogs", seed=4)
        assert result["caption"] == "someone jogs" and result["matched_caption"] == direct.matched.caption
        assert result["codes"] == direct.codes and result["warning"] is None
        (far,) = c.post("/api/generate", data={"text": "a person sits down on a chair", "seed": "4"}).json()["results"]
        assert "far from what this model learnt" in far["warning"] and "\n" not in far["warning"]
        assert result["side"] is None and far["side"] is None
        (kick,) = c.post("/api/generate", data={"text": "someone kicks with the right leg", "seed": "0"}).json()[
            "results"]
        assert "right" in kick["matched_caption"] and kick["side"]["asked"] == "right"
        (bow,) = c.post("/api/generate", data={"text": "someone bows politely", "seed": "0"}).json()["results"]
        (direct,) = bundled.generate("someone bows politely", seed=0)
        assert bow["seed"] == 0 and bow["codes"] == direct.codes and bow["action"]["met"]
        assert bow["action"] == direct.record()["action"] and bow["action"]["retries"] >= 1
        assert bow["check_note"] == direct.check_note and "fell short of the bow" in bow["check_note"]
        assert result["action"] is None and result["check_note"] is None
