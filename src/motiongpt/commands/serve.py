"""`motiongpt serve`: the local web page (see motiongpt.app.server)."""

from __future__ import annotations

import argparse

from motiongpt.commands.options import add_model_option
from motiongpt.errors import MotionGPTError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "serve", help="start the local web page",
        description="Load a model once and serve a page at http://HOST:PORT/ to generate motions from text (and "
                    "control tokens or uploaded poses), view them in 3D and download .npy/.bvh/.gif/.mp4. Works "
                    "offline; the JSON API is described in motiongpt.app.server.")
    add_model_option(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this "
                                                            "machine only)")
    parser.add_argument("--port", type=int, default=7860, help="default: 7860")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--max-results", type=int, default=64,
                        help="results kept for download; older ones are dropped (default: 64)")
    parser.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from motiongpt.app.server import create_app, load_examples
    except ImportError as err:
        raise MotionGPTError(f"the web app needs the `app` extra ({err.name} is missing): "
                             "pip install 'motiongpt[app]'") from None
    from motiongpt.generation.pipeline import MotionGPT

    if not 0 < args.port < 65536:
        raise MotionGPTError(f"--port {args.port}: expected 1..65535")
    model = MotionGPT.from_pretrained(args.model, device=args.device)
    app = create_app(model, load_examples(args.model), capacity=args.max_results)
    print(f"motiongpt: serving on http://{args.host}:{args.port}/ (Ctrl-C to stop)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
