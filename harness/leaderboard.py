"""The static leaderboard: a pure function of a results folder.

Plain HTML and CSS (no JavaScript, no CDN), relative links only, so the folder opens from
``file://`` and can be published as is. Every string from results or specs is escaped by
Jinja2's autoescaping. A result that does not validate stops the build, naming the file.
"""

from __future__ import annotations

import re
import shutil
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from harness.experiment import BASELINE
from harness.results import load_results, write_json_atomic

RowKey = tuple[str, str, str]  # model, method, intermediate


@dataclass
class Row:
    model: str
    method: str
    intermediate: str
    #: target -> per-seed aggregate means
    scores: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    #: target -> language -> per-seed scores
    languages: dict[str, dict[str, list[float]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))

    @property
    def key(self) -> RowKey:
        return (self.model, self.method, self.intermediate)

    def mean(self, target: str) -> float | None:
        values = self.scores.get(target)
        return statistics.fmean(values) if values else None

    def std(self, target: str) -> float | None:
        """Sample standard deviation over seeds (None with fewer than two seeds)."""
        values = self.scores.get(target, [])
        return statistics.stdev(values) if len(values) > 1 else None

    def lang_mean(self, target: str, lang: str) -> float | None:
        values = self.languages.get(target, {}).get(lang)
        return statistics.fmean(values) if values else None

    def seeds(self, target: str) -> int:
        return len(self.scores.get(target, []))


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "task"


def collect(results_dir: Path) -> tuple[dict[RowKey, Row], dict[str, dict[str, Any]]]:
    rows: dict[RowKey, Row] = {}
    targets: dict[str, dict[str, Any]] = {}
    for _path, result in load_results(results_dir):
        cell, task = result["cell"], result["task"]
        key = (cell["model"], cell["method"], cell["intermediate"])
        row = rows.setdefault(key, Row(*key))
        metric = result["aggregate"]["metric"]
        row.scores[task["name"]].append(result["aggregate"]["mean"])
        for lang, scores in result["languages"].items():
            row.languages[task["name"]][lang].append(scores[metric])
        info = targets.setdefault(task["name"], {"metric": metric, "languages": set(), "aggregation": task["aggregation"],
                                                 "train_language": task["train_language"]})
        info["languages"].update(result["languages"])
    for info in targets.values():
        info["languages"] = sorted(info["languages"])
    return rows, dict(sorted(targets.items()))


def delta(value: float | None, base: float | None) -> float | None:
    return None if value is None or base is None else value - base


def build_site(results_dir: Path, out_dir: Path, title: str = "stilts leaderboard") -> Path:
    """Write ``index.html``, one page per target, ``style.css`` and ``leaderboard.json``."""
    rows, targets = collect(Path(results_dir))
    env = Environment(loader=PackageLoader("leaderboard", "templates"), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda v: "–" if v is None else f"{v:.1f}"
    env.filters["signed"] = lambda v: "" if v is None else f"{v:+.1f}"
    env.filters["sign_class"] = lambda v: "" if v is None or abs(v) < 0.05 else ("pos" if v > 0 else "neg")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(str(resources.files("leaderboard").joinpath("static/style.css")), out_dir / "style.css")

    ordered = sorted(rows.values(), key=lambda r: (r.model, r.method, r.intermediate != BASELINE, r.intermediate))
    summary = []
    for row in ordered:
        base = rows.get((row.model, row.method, BASELINE))
        cells = []
        for target in targets:
            value = row.mean(target)
            cells.append({"value": value, "std": row.std(target), "seeds": row.seeds(target), "english": row.lang_mean(target, "en"),
                          "delta": None if row.intermediate == BASELINE or base is None else delta(value, base.mean(target))})
        present = [c["value"] for c in cells if c["value"] is not None]
        overall = statistics.fmean(present) if len(present) == len(targets) and present else None
        base_overall = None
        if base is not None and row.intermediate != BASELINE:
            base_values = [base.mean(t) for t in targets]
            base_overall = statistics.fmean(base_values) if all(v is not None for v in base_values) else None
        summary.append({"row": row, "cells": cells, "overall": overall, "overall_delta": delta(overall, base_overall)})
    pages = {name: f"task-{slug(name)}.html" for name in targets}
    common = {"title": title, "targets": targets, "pages": pages}
    (out_dir / "index.html").write_text(env.get_template("index.html.j2").render(summary=summary, **common), encoding="utf-8")

    for name, info in targets.items():
        table = []
        for row in ordered:
            if name not in row.scores:
                continue
            base = rows.get((row.model, row.method, BASELINE))
            langs = [row.lang_mean(name, lang) for lang in info["languages"]]
            deltas = None
            if base is not None and row.intermediate != BASELINE and name in base.scores:
                deltas = [delta(v, base.lang_mean(name, lang)) for v, lang in zip(langs, info["languages"])]
                deltas.append(delta(row.mean(name), base.mean(name)))
            table.append({"row": row, "langs": langs, "mean": row.mean(name), "std": row.std(name), "deltas": deltas,
                          "seeds": row.seeds(name)})
        html = env.get_template("task.html.j2").render(task=name, info=info, table=table, **common)
        (out_dir / pages[name]).write_text(html, encoding="utf-8")

    write_json_atomic(out_dir / "leaderboard.json", {
        "targets": {n: {k: v for k, v in i.items()} for n, i in targets.items()},
        "rows": [{"model": s["row"].model, "method": s["row"].method, "intermediate": s["row"].intermediate,
                  "scores": {t: c["value"] for t, c in zip(targets, s["cells"])},
                  "std": {t: c["std"] for t, c in zip(targets, s["cells"])},
                  "seeds": {t: c["seeds"] for t, c in zip(targets, s["cells"])},
                  "per_seed": {t: list(s["row"].scores.get(t, [])) for t in targets},
                  "english": {t: c["english"] for t, c in zip(targets, s["cells"])},
                  "delta_vs_baseline": {t: c["delta"] for t, c in zip(targets, s["cells"])},
                  "overall": s["overall"]} for s in summary],
    })
    return out_dir / "index.html"
