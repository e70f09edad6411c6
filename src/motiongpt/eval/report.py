"""Evaluation results as JSON and as Markdown tables (the paper's Tables 1/2 and 5 layout).

Table 1 has a "Real motion" row and one row per task with R-Precision top-1/2/3, FID, MM-Dist, Diversity and
MultiModality, each `mean ± 95 % half-width` over the repeats (a value without ± was computed once). Table 2 has
one row per control task with satisfaction, Recon and Vel of the text-only generations and of the controlled ones.
"""

from __future__ import annotations

import math
from pathlib import Path

from motiongpt.llm.tasks import CONTROL_TASKS, Task
from motiongpt.io import write_json, write_text

JSON_NAME = "results.json"
MARKDOWN_NAME = "results.md"
ROW_TITLES = {"real": "Real motion", **{task.value: task.label for task in Task}}
MAIN_COLUMNS = (("top1", "Top-1 ↑"), ("top2", "Top-2 ↑"), ("top3", "Top-3 ↑"), ("fid", "FID ↓"),
                ("mm_dist", "MM-Dist ↓"), ("diversity", "Diversity →"), ("multimodality", "MultiModality ↑"))
CONTROL_COLUMNS = (("satisfied", "Satisfied ↑"), ("recon", "Recon (m) ↓"), ("vel", "Vel (m/s) ↓"))


def _finite(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _json_safe(obj):
    """NaN/inf → null, so the file is strict JSON."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return _finite(obj)


def format_cell(entry: dict | None, digits: int = 3) -> str:
    if entry is None or _finite(entry.get("mean")) is None:
        return "–"
    text = f"{entry['mean']:.{digits}f}"
    if _finite(entry.get("conf95")) is not None:
        text += f" ± {entry['conf95']:.{digits}f}"
    return text


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(results: dict) -> str:
    """The two tables of a results dict from `protocol.evaluate_generation`."""
    rows = results["rows"]
    settings = results["settings"]
    mm = ("off" if not settings["mm_samples"] else
          f"{settings['mm_samples']} generations × {settings['mm_texts']} texts, "
          + ("every repeat" if settings["mm_per_repeat"] else "computed once"))
    parts = [f"# Evaluation on {results['identity'].get('split', '?')} ({results['motions']} motions, "
             f"{results['repeats']} repeats, seed {settings['seed']})",
             "",
             f"Mean ± 95 % interval over repeats. MultiModality: {mm}.",
             "",
             _table(["Method", *(title for _, title in MAIN_COLUMNS)],
                    [[ROW_TITLES[name], *(format_cell(metrics.get(key)) for key, _ in MAIN_COLUMNS)]
                     for name, metrics in rows.items()])]
    controlled = [t for t in CONTROL_TASKS if t in rows or Task.TEXT in rows]
    if controlled:
        header = ["Control", *(f"{title} text-only" for _, title in CONTROL_COLUMNS),
                  *(f"{title} with control" for _, title in CONTROL_COLUMNS)]
        table = []
        for task in controlled:
            baseline = [format_cell(rows.get(Task.TEXT, {}).get(f"{task}_{key}")) for key, _ in CONTROL_COLUMNS]
            with_control = [format_cell(rows.get(task, {}).get(key)) for key, _ in CONTROL_COLUMNS]
            table.append([ROW_TITLES[task], *baseline, *with_control])
        parts += ["", "## Control consistency (see docs/eval.md)", "", _table(header, table)]
    return "\n".join(parts) + "\n"


def write_report(out_dir: str | Path, results: dict) -> tuple[Path, Path]:
    """out_dir/results.json and out_dir/results.md."""
    out_dir = Path(out_dir)
    write_json(out_dir / JSON_NAME, _json_safe(results))
    write_text(out_dir / MARKDOWN_NAME, markdown(results))
    return out_dir / JSON_NAME, out_dir / MARKDOWN_NAME
