"""The local web page: a FastAPI app over a MotionGPT model."""

from motiongpt.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {"motiongpt.app.server": ["create_app"]})
