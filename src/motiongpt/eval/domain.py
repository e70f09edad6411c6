"""How often the out-of-domain warning (generation/domain.py) fires on descriptions it should and should not warn
about: the out-of-domain set shipped here and the held-out in-domain wording set."""

from __future__ import annotations

from pathlib import Path

from motiongpt.eval.wording import load_heldout_wording
from motiongpt.generation.domain import DomainGuard
from motiongpt.io import read_tsv

OUT_OF_DOMAIN = Path(__file__).with_name("out_of_domain.txt")


def load_out_of_domain(path: str | Path = OUT_OF_DOMAIN) -> list[str]:
    """One description per line; `#` lines are comments."""
    return [description for _, (description,) in read_tsv(path, ("description",), "out-of-domain description")]


def warning_rates(guard: DomainGuard, out_of_domain: list[str] | None = None,
                  in_domain: list[str] | None = None) -> dict:
    """The share of each set that gets the warning (the first should be high, the second low)."""
    out_of_domain = load_out_of_domain() if out_of_domain is None else out_of_domain
    in_domain = [d for d, _ in load_heldout_wording()] if in_domain is None else in_domain
    far = [n.far for n in guard.check(out_of_domain)]
    near = [n.far for n in guard.check(in_domain)]
    return {"threshold": guard.threshold, "out_of_domain": len(far), "out_of_domain_warned": sum(far) / len(far),
            "in_domain": len(near), "in_domain_warned": sum(near) / len(near)}
