"""The held-out wording set: hand-written descriptions of Bandai motions that no caption template produces.

A model trained on the generated Bandai captions has only ever seen their templates; these descriptions (synonyms,
other word orders, slang, typos) measure whether it follows how people actually ask for a motion. Each is labelled
with the Bandai content it means (a name from the datasets' `cfg/content_label.txt`). Never used for training.
"""

from __future__ import annotations

from pathlib import Path

from motiongpt.data.bandai import ACTIONS
from motiongpt.errors import MotionGPTError

HELDOUT_WORDING = Path(__file__).with_name("heldout_wording.tsv")


def load_heldout_wording(path: str | Path = HELDOUT_WORDING) -> list[tuple[str, str]]:
    """(description, content) rows of a `description<TAB>content` file; `#` lines are comments."""
    path = Path(path)
    if not path.is_file():
        raise MotionGPTError(f"{path}: wording file not found")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip():
            raise MotionGPTError(f"{path}:{number}: expected `description<TAB>content`, got {line!r}")
        description, content = parts[0].strip(), parts[1].strip()
        if content not in ACTIONS:
            raise MotionGPTError(f"{path}:{number}: unknown content {content!r}; expected one of {sorted(ACTIONS)}")
        rows.append((description, content))
    return rows
