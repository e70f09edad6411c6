"""The local web app: a page of our own plus a small JSON API over one loaded `MotionGPT`.

Why FastAPI + uvicorn and not Gradio (which the original demo used): Gradio pulls in a large dependency tree and its
front-end loads fonts and scripts from the network, so it neither works offline nor can be tested without a
browser that reaches the internet. Here the page (static/index.html, app.js, viewer.js, style.css) is the project's
own, served from package data, and nothing is fetched at run time; the API is plain JSON that tests and scripts can
call directly.

API (the page uses nothing else):

    GET  /api/health                   {"status": "ok", ...}
    GET  /api/info                     example prompts, codebook size, limits, fps, the skeleton's chains
    POST /api/generate                 form fields (multipart or urlencoded): text, num_samples, seed, init_token,
                                       last_token, key_tokens ("3,41,7"), max_codes, temperature, top_k, guidance,
                                       an exact length as frames or seconds, and files
                                       init_pose / last_pose (.npy joints T x 22 x 3 or features T x 263) with
                                       init_pose_frame / last_pose_frame (the 4 frames from that frame; empty: the
                                       first 4 for init, the last 4 for last)
                                       -> {"results": [{"id", "caption", "seed", "codes", "frames", "fps",
                                           "joints" (T x 22 x 3 nested lists), "files": {"npy", "bvh", "glb",
                                           "gif", "mp4", "json"}}], "elapsed_s"}
    GET  /api/results/{id}/{file}      motion.npy, motion.bvh, motion.glb, motion.gif, motion.mp4, tokens.json

Bad input comes back as HTTP 400 `{"error": "<one line>"}` (the MotionGPTError message); anything unexpected as 500
with a short message while the server keeps running. The model is loaded once; generation runs in a worker thread
behind a lock (torch on the CPU is not worth running twice at once) so the event loop keeps serving pages and
downloads. Every sample gets its own result id and folder in a temporary dir that holds at most `capacity` results
(least recently used ones are dropped); BVH and glTF (one skeleton fit), GIF and MP4 are made on their first
download.
"""

from __future__ import annotations

import io
import logging
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from motiongpt.data.bandai import ACTIONS
from motiongpt.data.captions import third_person
from motiongpt.errors import MotionGPTError
from motiongpt.export.bvh import save_rig_bvh
from motiongpt.export.gltf import save_glb
from motiongpt.export.render import render_gif, render_mp4
from motiongpt.generation.controls import parse_code, parse_code_list, pose_features
from motiongpt.generation.domain import domain_warnings
from motiongpt.generation.pipeline import GeneratedMotion, MotionGPT, model_dir
from motiongpt.generation.settings import GenerationSettings
from motiongpt.io import save_npy, slug, sweep_stale, temp_prefix, write_json
from motiongpt.limits import (MAX_GUIDANCE, MAX_SEED, MAX_TEMPERATURE, MAX_UPLOAD_BYTES, MIN_GUIDANCE, MIN_TEMPERATURE,
                              parse_int, parse_number)
from motiongpt.motion.fit import fit_skeleton

STATIC_DIR = Path(__file__).resolve().parent / "static"
EXAMPLES_NAME = "examples.txt"  # optional, in a model dir: one example description per line
MAX_SAMPLES = 8
MAX_CODES = GenerationSettings().max_codes  # the longest motion a request may ask for
# download name -> (suffix of the saved file, media type)
RESULT_FILES = {
    "motion.npy": ("npy", "application/octet-stream"),
    "motion.bvh": ("bvh", "text/plain"),
    "motion.glb": ("glb", "model/gltf-binary"),
    "motion.gif": ("gif", "image/gif"),
    "motion.mp4": ("mp4", "video/mp4"),
    "tokens.json": ("json", "application/json"),
}
log = logging.getLogger("motiongpt.app")


def default_examples() -> list[str]:
    """One description per Bandai content (what the bundled model was trained on)."""
    examples = []
    for phrases in ACTIONS.values():
        simple = [p for p in phrases if " and " not in p and "," not in p]
        text = f"a person {third_person((simple or phrases)[0])}."
        if text not in examples:
            examples.append(text)
    return examples


def load_examples(model: str | Path | None) -> list[str]:
    """Example descriptions from `examples.txt` in the model dir when it has one, else `default_examples()`."""
    path = model_dir(model) / EXAMPLES_NAME
    if path.is_file():
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        if any(lines):
            return [line for line in lines if line]
    return default_examples()


class ResultStore:
    """Result folders under one temporary dir, at most `capacity` of them; the least recently used go first."""

    def __init__(self, root: str | Path | None = None, capacity: int = 64):
        if capacity < 1:
            raise MotionGPTError(f"result capacity {capacity}: must be at least 1")
        anchor = Path(root or tempfile.gettempdir()) / "motiongpt-app"
        sweep_stale(anchor)  # the folders of servers that were killed
        self.root = Path(tempfile.mkdtemp(prefix=temp_prefix(anchor), suffix=".tmp", dir=anchor.parent))
        self.capacity = capacity
        self._entries: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, motion: GeneratedMotion) -> str:
        """Save the joints and tokens.json of one sample under a new id."""
        rid = secrets.token_hex(8)
        folder = self.root / rid
        folder.mkdir()
        save_npy(folder / "motion.npy", motion.joints)
        write_json(folder / "tokens.json", motion.record())
        stem = f"{slug(motion.caption, sep='-')}_seed{motion.seed}"
        entry = {"folder": folder, "stem": stem, "joints": motion.joints, "caption": motion.caption, "fps": motion.fps,
                 "lock": threading.Lock()}
        if motion.rig is not None:
            entry["rig"] = motion.rig
        with self._lock:
            self._entries[rid] = entry
            while len(self._entries) > self.capacity:
                _, old = self._entries.popitem(last=False)
                shutil.rmtree(old["folder"], ignore_errors=True)
        return rid

    def get(self, rid: str) -> dict:
        with self._lock:
            if rid not in self._entries:
                raise KeyError(rid)
            self._entries.move_to_end(rid)
            return self._entries[rid]

    def file(self, rid: str, name: str) -> tuple[Path, str, str]:
        """(path, download name, media type) of one result file; videos are rendered on first use."""
        if name not in RESULT_FILES:
            raise HTTPException(404, f"unknown result file {name!r}; expected one of {', '.join(RESULT_FILES)}")
        try:
            entry = self.get(rid)
        except KeyError:
            raise HTTPException(404, f"result {rid!r} not found (results are kept for the {self.capacity} most "
                                     "recent samples; generate it again)") from None
        suffix, media = RESULT_FILES[name]
        path = entry["folder"] / name
        with entry["lock"]:
            if not path.is_file() and suffix in ("gif", "mp4"):
                render = render_gif if suffix == "gif" else render_mp4
                render(entry["joints"], path, fps=entry["fps"], title=entry["caption"])
            if not path.is_file() and suffix in ("bvh", "glb"):
                if "rig" not in entry:
                    entry["rig"] = fit_skeleton(entry["joints"], fps=entry["fps"])
                (save_rig_bvh if suffix == "bvh" else save_glb)(entry["rig"], path)
        if not path.is_file():
            raise HTTPException(404, f"result {rid!r} was dropped from the store; generate it again")
        return path, f"{entry['stem']}.{suffix}", media

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ form parsing
def _field(form, name: str) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, UploadFile):
        return None
    value = str(value).strip()
    return value or None


def _int_field(form, name: str, label: str, low: int, high: int | None = None) -> int | None:
    text = _field(form, name)
    return None if text is None else parse_int(text, label, low, high)


def _number_field(form, name: str, label: str, low: float, high: float) -> float | None:
    text = _field(form, name)
    return None if text is None else parse_number(text, label, low, high)


def _single_code(form, name: str, label: str) -> int | None:
    text = _field(form, name)
    return None if text is None else parse_code(text, label)


def _pose(form, uploads: dict[str, bytes], role: str, model: MotionGPT) -> np.ndarray | None:
    """The uploaded pose for `role` as raw features: the whole clip, or one code's frames from the chosen frame."""
    upload = form.get(f"{role}_pose")
    frame = _int_field(form, f"{role}_pose_frame", f"{role} pose frame", 0)
    if not isinstance(upload, UploadFile) or not upload.filename:
        if frame is not None:
            raise MotionGPTError(f"{role} pose frame {frame}: no {role} pose file was uploaded")
        return None
    label = f"{role} pose ({upload.filename[:60]})"
    data = uploads[f"{role}_pose"]
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as err:  # numpy raises ValueError, EOFError, UnpicklingError... for non-.npy bytes
        raise MotionGPTError(f"{label}: not a .npy array ({type(err).__name__}); expected a file saved with "
                             "numpy.save") from None
    if not isinstance(array, np.ndarray):
        array.close()
        raise MotionGPTError(f"{label}: holds several arrays (.npz); expected one .npy array")
    return pose_features(array, model.vq.config, name=label, frame=frame)


def parse_request(form, uploads: dict[str, bytes], model: MotionGPT) -> dict:
    """Keyword arguments for `MotionGPT.generate` from the submitted form; MotionGPTError on bad input."""
    text = _field(form, "text")
    if text is None:
        raise MotionGPTError("description is empty: type what the person should do, e.g. 'a person walks forward.'")
    key_text = _field(form, "key_tokens")
    longest = MAX_CODES * model.vq.config.frames_per_code  # frames
    seconds = _field(form, "seconds")
    given = {"max_codes": _int_field(form, "max_codes", "max codes", 1, MAX_CODES),
             "frames": _int_field(form, "frames", "length in frames", 1, longest),
             "temperature": _number_field(form, "temperature", "temperature", MIN_TEMPERATURE, MAX_TEMPERATURE),
             "top_k": _int_field(form, "top_k", "top-k", 0),
             "guidance": _number_field(form, "guidance", "guidance", MIN_GUIDANCE, MAX_GUIDANCE)}
    changes = {name: value for name, value in given.items() if value is not None}
    if "top_k" in changes:
        changes["top_k"] = changes["top_k"] or None  # 0 turns top-k off
    return {
        "texts": [text],
        "num_samples": _int_field(form, "num_samples", "number of samples", 1, MAX_SAMPLES) or 1,
        "seed": _int_field(form, "seed", "seed", 0, MAX_SEED),
        "init_token": _single_code(form, "init_token", "initial token"),
        "last_token": _single_code(form, "last_token", "last token"),
        "key_tokens": None if key_text is None else parse_code_list(key_text, "key tokens"),
        "init_pose": _pose(form, uploads, "init", model),
        "last_pose": _pose(form, uploads, "last", model),
        "settings": GenerationSettings().updated(**changes),
        "seconds": None if seconds is None else parse_number(seconds, "length in seconds", 0.0,
                                                             longest / model.spec.fps),
    }


# ------------------------------------------------------------------------------------------------ the service
class MotionService:
    """One loaded model, a lock around it, and the result store."""

    def __init__(self, model: MotionGPT, examples: Sequence[str], store: ResultStore):
        self.model, self.examples, self.store = model, list(examples), store
        self.lock = threading.Lock()
        self.requests = 0

    def info(self) -> dict:
        spec = self.model.spec
        return {"examples": self.examples, "codebook_size": self.model.codebook_size, "max_codes": MAX_CODES,
                "max_samples": MAX_SAMPLES, "fps": spec.fps, "format": self.model.fmt,
                "skeleton": {"name": spec.name, "parents": list(spec.parents),
                             "chains": [list(c) for c in spec.kinematic_chain],
                             "left": list(spec.left_chain), "right": list(spec.right_chain)}}

    def generate(self, kwargs: dict) -> list[dict]:
        """Generate (one request at a time) and store every sample; the result dicts the API returns."""
        with self.lock:
            motions = self.model.generate(**kwargs)
        self.requests += 1
        warnings = domain_warnings(self.model.matcher, [m.caption for m in motions])
        out = []
        for motion in motions:
            rid = self.store.add(motion)
            record = motion.record()
            files = {suffix: f"/api/results/{rid}/{name}" for name, (suffix, _) in RESULT_FILES.items()}
            out.append({"id": rid, "caption": motion.caption, "seed": motion.seed, "codes": motion.codes,
                        "matched_caption": motion.matched.caption if motion.matched else None,
                        "warning": warnings.get(motion.caption), "side": record["side"],
                        "action": record["action"], "check_note": record["check_note"],
                        "frames": int(len(motion.joints)), "fps": motion.fps,
                        "controls": asdict(motion.controls), "satisfies_controls": motion.satisfies_controls,
                        "joints": np.round(motion.joints.astype(np.float64), 4).tolist(), "files": files})
        return out


class _TooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, f"request body over {MAX_UPLOAD_BYTES // 2**20} MiB: pose uploads must be smaller")


class BodyLimit:
    """ASGI middleware: a request body past MAX_UPLOAD_BYTES is refused with 413 while it streams in (by its
    Content-Length when it has one), so a huge upload is never read whole or spooled to disk."""

    def __init__(self, app, limit: int = MAX_UPLOAD_BYTES):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or len(declared) > 12 or int(declared) > self.limit:
            await _error(413, _TooLarge().detail)(scope, receive, send)
            return
        received = 0

        async def limited():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise _TooLarge()
            return message

        await self.app(scope, limited, send)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(model: MotionGPT, examples: Sequence[str] | None = None, capacity: int = 64,
               store_root: str | Path | None = None) -> FastAPI:
    """The FastAPI app serving the page and the API for `model`; results live in a temp dir removed at shutdown."""
    store = ResultStore(store_root, capacity)
    service = MotionService(model, default_examples() if examples is None else examples, store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        try:
            yield
        finally:
            store.close()

    app = FastAPI(title="MotionGPT", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.service = service
    app.add_middleware(BodyLimit)

    @app.exception_handler(MotionGPTError)
    async def user_error(_request: Request, err: MotionGPTError) -> JSONResponse:
        return _error(400, str(err).splitlines()[0] if str(err) else "bad input")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {}
        return _error(400, f"bad request: {first.get('msg', 'invalid input')} at {first.get('loc', '?')}")

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, err: HTTPException) -> JSONResponse:
        return _error(err.status_code, str(err.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("unexpected error serving %s", request.url.path)
        return _error(500, f"internal error ({type(err).__name__}); the server is still running, see its log")

    @app.get("/api/health")
    def health() -> dict:
        return {"status": "ok", "codebook_size": model.codebook_size, "results": len(store),
                "requests": service.requests}

    @app.get("/api/info")
    def info() -> dict:
        return service.info()

    @app.post("/api/generate")
    async def generate(request: Request) -> JSONResponse:
        start = time.perf_counter()
        async with request.form() as form:  # spooled files are closed (and removed) at the end of the block
            uploads = {name: await value.read() for name, value in form.multi_items()
                       if isinstance(value, UploadFile)}
            kwargs = await run_in_threadpool(parse_request, form, uploads, model)  # numpy and the VQ, off the loop
        try:
            results = await run_in_threadpool(service.generate, kwargs)
        except MotionGPTError:
            raise
        except Exception as err:  # a failed generation is reported; the server keeps serving
            log.exception("generation failed")
            detail = (str(err).splitlines() or [""])[0][:200]
            return _error(500, f"generation failed ({type(err).__name__}: {detail}); the server is still running")
        return JSONResponse({"results": results, "elapsed_s": round(time.perf_counter() - start, 4)})

    @app.get("/api/results/{rid}/{name}")
    def result_file(rid: str, name: str) -> FileResponse:
        path, download, media = store.file(rid, name)
        return FileResponse(path, media_type=media, filename=download)

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
