"""The static leaderboard: a pure function of a results folder.

Plain HTML and CSS (no JavaScript, no CDN), relative links only, so the folder opens from
``file://`` and can be published as is. Every string from results or specs is escaped by
Jinja2's autoescaping. A result that does not validate (schema and semantic checks of
:mod:`harness.results`) stops the build, naming the file and the JSON pointer.

The build is all or nothing: every page is rendered in memory, written to a hidden sibling folder
and only then swapped into place, so a failure leaves the previous site as it was. The output is
deterministic: the same results (whatever their file names) give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from harness.errors import StiltsError
from harness.experiment import BASELINE
from harness.results import load_results

RowKey = tuple[str, str, str]  # model, method, intermediate

#: The files a site holds besides its task pages; an existing output folder holding anything else
#: is not replaced (it is not a site this function wrote).
SITE_FILES = ("index.html", "style.css", "leaderboard.json")
PAGE_FILE = re.compile(r"task-[A-Za-z0-9_.-]+\.html")
#: Longest sanitised task name in a page file name (a hash keeps longer names apart).
MAX_SLUG = 80


@dataclass
class Row:
    model: str
    method: str
    intermediate: str
    #: target -> per-seed aggregate means (in seed order)
    scores: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    #: target -> language -> per-seed scores (in seed order)
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


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def page_names(names: Iterable[str]) -> dict[str, str]:
    """Task name -> page file name: ``task-<sanitised name>.html``, unique and deterministic.

    A short hash of the real name is added whenever the sanitised name alone could be ambiguous:
    when sanitising changed or shortened the name (``a<b`` and ``a>b`` are both ``a-b``), or when
    the page name would otherwise equal another one, ignoring case (case-insensitive file
    systems); a clash that remains gets the full hash.
    """
    stems: dict[str, str] = {}
    levels: dict[str, int] = {}  # 0: no hash, 1: short hash, 2: full hash
    for name in sorted(set(names)):
        text = slug(name)
        stems[name] = "task-" + text[:MAX_SLUG]
        levels[name] = 1 if text != name or len(text) > MAX_SLUG else 0
    for _ in range(3):
        pages = {
            name: stems[name] + ("", f"-{_digest(name)[:8]}", f"-{_digest(name)}")[level] + ".html"
            for name, level in levels.items()
        }
        folded = Counter(page.casefold() for page in pages.values())
        clash = [name for name, page in pages.items() if folded[page.casefold()] > 1]
        if not clash:
            return pages
        for name in clash:
            levels[name] = min(levels[name] + 1, 2)
    raise StiltsError(f"cannot give the tasks {', '.join(map(repr, clash))} distinct page names")


def collect(results: Iterable[tuple[Path, dict[str, Any]]]) -> tuple[dict[RowKey, Row], dict[str, dict[str, Any]]]:
    """Rows and target infos from loaded results; independent of file names and their order."""

    def order(item: tuple[Path, dict[str, Any]]) -> tuple[Any, ...]:
        cell = item[1]["cell"]
        return (cell["model"], cell["method"], cell["intermediate"], cell["target"], cell["seed"], str(item[0]))

    rows: dict[RowKey, Row] = {}
    targets: dict[str, dict[str, Any]] = {}
    for _path, result in sorted(results, key=order):
        cell, task = result["cell"], result["task"]
        key = (cell["model"], cell["method"], cell["intermediate"])
        row = rows.setdefault(key, Row(*key))
        metric = result["aggregate"]["metric"]
        row.scores[task["name"]].append(result["aggregate"]["mean"])
        for lang, scores in result["languages"].items():
            row.languages[task["name"]][lang].append(scores[metric])
        info = targets.setdefault(
            task["name"],
            {
                "metric": metric,
                "languages": set(),
                "aggregation": dict(sorted(task["aggregation"].items())),
                "train_language": task["train_language"],
            },
        )
        info["languages"].update(result["languages"])
    for info in targets.values():
        info["languages"] = sorted(info["languages"])
    return rows, dict(sorted(targets.items()))


def delta(value: float | None, base: float | None) -> float | None:
    return None if value is None or base is None else value - base


def _text(text: str) -> bytes:
    # a lone surrogate (legal in a JSON string) cannot be UTF-8: write it as its escape, never crash
    return text.encode("utf-8", "backslashreplace")


def render_site(rows: dict[RowKey, Row], targets: dict[str, dict[str, Any]], title: str) -> dict[str, bytes]:
    """Every file of the site, by name: ``index.html``, one page per target, ``style.css``, ``leaderboard.json``."""
    env = Environment(
        loader=PackageLoader("leaderboard", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v: "–" if v is None else f"{v:.1f}"
    env.filters["signed"] = lambda v: "" if v is None else f"{v:+.1f}"
    env.filters["sign_class"] = lambda v: "" if v is None or abs(v) < 0.05 else ("pos" if v > 0 else "neg")
    files: dict[str, bytes] = {"style.css": resources.files("leaderboard").joinpath("static/style.css").read_bytes()}

    ordered = sorted(rows.values(), key=lambda r: (r.model, r.method, r.intermediate != BASELINE, r.intermediate))
    summary: list[dict[str, Any]] = []
    for row in ordered:
        base = rows.get((row.model, row.method, BASELINE))
        cells: list[dict[str, Any]] = []
        for target in targets:
            value = row.mean(target)
            cells.append(
                {
                    "value": value,
                    "std": row.std(target),
                    "seeds": row.seeds(target),
                    "english": row.lang_mean(target, "en"),
                    "delta": None if row.intermediate == BASELINE or base is None else delta(value, base.mean(target)),
                }
            )
        present: list[float] = [c["value"] for c in cells if c["value"] is not None]
        overall = statistics.fmean(present) if len(present) == len(targets) and present else None
        base_overall = None
        if base is not None and row.intermediate != BASELINE:
            base_values = [v for v in (base.mean(t) for t in targets) if v is not None]
            base_overall = statistics.fmean(base_values) if len(base_values) == len(targets) else None
        summary.append({"row": row, "cells": cells, "overall": overall, "overall_delta": delta(overall, base_overall)})
    pages = page_names(targets)
    common = {"title": title, "targets": targets, "pages": pages}
    files["index.html"] = _text(env.get_template("index.html.j2").render(summary=summary, **common))

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
            table.append(
                {
                    "row": row,
                    "langs": langs,
                    "mean": row.mean(name),
                    "std": row.std(name),
                    "deltas": deltas,
                    "seeds": row.seeds(name),
                }
            )
        files[pages[name]] = _text(env.get_template("task.html.j2").render(task=name, info=info, table=table, **common))

    board = {
        "targets": {n: {k: v for k, v in i.items()} for n, i in targets.items()},
        "rows": [
            {
                "model": s["row"].model,
                "method": s["row"].method,
                "intermediate": s["row"].intermediate,
                "scores": {t: c["value"] for t, c in zip(targets, s["cells"])},
                "std": {t: c["std"] for t, c in zip(targets, s["cells"])},
                "seeds": {t: c["seeds"] for t, c in zip(targets, s["cells"])},
                "per_seed": {t: list(s["row"].scores.get(t, [])) for t in targets},
                "english": {t: c["english"] for t, c in zip(targets, s["cells"])},
                "delta_vs_baseline": {t: c["delta"] for t, c in zip(targets, s["cells"])},
                "overall": s["overall"],
            }
            for s in summary
        ],
    }
    files["leaderboard.json"] = _text(json.dumps(board, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    return files


def _is_site_file(entry: Path) -> bool:
    name = entry.name
    return (name in SITE_FILES or PAGE_FILE.fullmatch(name) is not None) and entry.is_file() and not entry.is_symlink()


def _check_site_folder(out_dir: Path, target: Path) -> None:
    """Refuse to (re)place a file, a root, or a folder holding more than a site."""
    if target.exists() and not target.is_dir():
        raise StiltsError(f"{out_dir} is a file, expected a folder")
    if target.parent == target:
        raise StiltsError(f"{out_dir} is a file-system root; expected a folder for the site")
    if target.is_dir():
        foreign = sorted(entry.name for entry in target.iterdir() if not _is_site_file(entry))
        if foreign:
            shown = ", ".join(map(repr, foreign[:5])) + (" ..." if len(foreign) > 5 else "")
            raise StiltsError(
                f"{out_dir} already holds files that are not part of a stilts site ({shown}); "
                "the build replaces the whole folder, so choose a new or empty folder"
            )


def _check_results_dir(results_dir: Path, out_dir: Path, target: Path) -> None:
    if not results_dir.exists():
        raise StiltsError(f"no result files found in {results_dir}: no such folder")
    if not results_dir.is_dir():
        raise StiltsError(f"{results_dir} is a file, expected a folder of result files")
    real = results_dir.resolve()
    if real == target or real.is_relative_to(target):
        where = "is" if real == target else "holds"
        raise StiltsError(
            f"the site folder {out_dir} {where} the results folder {results_dir}; "
            "the build replaces the whole site folder, so choose another one"
        )


def _fresh_path(parent: Path, prefix: str) -> Path:
    while True:
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        if not os.path.lexists(path):
            return path


def _publish(files: dict[str, bytes], target: Path) -> None:
    """Write ``files`` into a hidden sibling of ``target``, then swap it into place."""
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    while True:
        staging = _fresh_path(parent, f".{target.name}.building-")
        try:
            staging.mkdir()  # honours the umask, unlike tempfile.mkdtemp (0700)
            break
        except FileExistsError:
            continue
    try:
        for name in sorted(files):
            (staging / name).write_bytes(files[name])
        if target.exists():
            backup = _fresh_path(parent, f".{target.name}.old-")
            os.rename(target, backup)
            try:
                os.rename(staging, target)
            except BaseException:
                os.rename(backup, target)
                raise
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def build_site(results_dir: Path, out_dir: Path, title: str = "stilts leaderboard") -> Path:
    """Write ``index.html``, one page per target, ``style.css`` and ``leaderboard.json`` to ``out_dir``.

    Raises :class:`StiltsError` (the CLI's clean ``error: ...``) for bad input: no results, an
    invalid one (:class:`~harness.errors.SpecError`, naming file and pointer), an output path that
    is a file or a folder holding other files, or a folder that cannot be written.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    try:
        target = out_dir.resolve()  # through a symlink: the linked folder is replaced, the link kept
        _check_results_dir(results_dir, out_dir, target)
        _check_site_folder(out_dir, target)
        results = load_results(results_dir, exclude=[target])
        if not results:
            raise StiltsError(f"no result files found in {results_dir}")
        files = render_site(*collect(results), title=title)
        _publish(files, target)
    except OSError as exc:
        raise StiltsError(f"cannot build the leaderboard in {out_dir}: {exc}") from exc
    return out_dir / "index.html"
