"""The static leaderboard: a pure function of a results folder.

Plain HTML and CSS (no JavaScript, no CDN), relative links only, so the folder opens from
``file://`` and can be published as is. Every string from results or specs is escaped by
Jinja2's autoescaping. A result that does not validate (schema and semantic checks of
:mod:`harness.results`) stops the build, naming the file and the JSON pointer.

The build is all or nothing: every page is rendered in memory, written to a hidden sibling folder
and only then swapped into place, so a failure leaves the previous site as it was. The output is
deterministic: the same results (whatever their file names) give the same bytes.

A rebuild redoes only what changed: validated result files (their contents too,
:mod:`harness.validated`), bootstrap intervals (:class:`harness.bootstrap.IntervalMemo`) and
charts (:mod:`harness.charts`) are kept in memos in ``$STILTS_CACHE_DIR``, keyed by digests of
everything they depend on; deleting them only costs time.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from harness.bootstrap import REPLICATES, Interval
from harness.comparison import CATEGORIES, Board, build_board
from harness.errors import StiltsError
from harness.results import load_results

#: The files a site holds; an existing output folder holding anything else is not replaced (it is
#: not a site this function wrote).
SITE_FILES = ("index.html", "about.html", "style.css", "app.js", "leaderboard.json", "cells.csv", "cells.jsonl")
PAGE_FILE = re.compile(r"(task|cell)-[A-Za-z0-9_.-]+\.html|chart-[A-Za-z0-9_.-]+\.svg|vendor-[A-Za-z0-9_.-]+")
#: Longest sanitised name in a page file name (a hash keeps longer names apart).
MAX_SLUG = 80


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "task"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def page_names(names: Iterable[str], prefix: str = "task-", suffix: str = ".html") -> dict[str, str]:
    """Name -> page file name: ``<prefix><sanitised name><suffix>``, unique and deterministic.

    A short hash of the real name is added whenever the sanitised name alone could be ambiguous:
    when sanitising changed or shortened the name (``a<b`` and ``a>b`` are both ``a-b``), or when
    the page name would otherwise equal another one, ignoring case (case-insensitive file
    systems); a clash that remains gets the full hash.
    """
    stems: dict[str, str] = {}
    levels: dict[str, int] = {}  # 0: no hash, 1: short hash, 2: full hash
    for name in sorted(set(names)):
        text = slug(name)
        stems[name] = prefix + text[:MAX_SLUG]
        levels[name] = 1 if text != name or len(text) > MAX_SLUG else 0
    for _ in range(3):
        pages = {
            name: stems[name] + ("", f"-{_digest(name)[:8]}", f"-{_digest(name)}")[level] + suffix
            for name, level in levels.items()
        }
        folded = Counter(page.casefold() for page in pages.values())
        clash = [name for name, page in pages.items() if folded[page.casefold()] > 1]
        if not clash:
            return pages
        for name in clash:
            levels[name] = min(levels[name] + 1, 2)
    raise StiltsError(f"cannot give the tasks {', '.join(map(repr, clash))} distinct page names")


def _text(text: str) -> bytes:
    # a lone surrogate (legal in a JSON string) cannot be UTF-8: write it as its escape, never crash
    return text.encode("utf-8", "backslashreplace")


def _heat(value: float | None) -> str:
    """CSS classes of a Δ cell: its sign and a magnitude bucket (colour is never the only cue: the
    cell also shows ▲/▼ and the signed number)."""
    if value is None:
        return ""
    size = abs(value)
    if size < 0.05:
        return "heat zero"
    bucket = 1 if size < 1 else 2 if size < 3 else 3 if size < 10 else 4
    return f"heat {'pos' if value > 0 else 'neg'}{bucket}"


def _arrow(value: float | None) -> str:
    if value is None:
        return ""
    return "▲" if value >= 0.05 else "▼" if value <= -0.05 else "●"


def _file_uri(path: str) -> str:
    """A ``file://`` link to a local path (a relative or odd path gets no link target)."""
    candidate = Path(path)
    return candidate.as_uri() if candidate.is_absolute() else "#"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("leaderboard", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v: "–" if v is None else f"{v:.1f}"
    env.filters["signed"] = lambda v: "" if v is None else f"{v:+.1f}"
    env.filters["heat"] = _heat
    env.filters["arrow"] = _arrow
    env.filters["pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False, sort_keys=True)
    env.filters["file_uri"] = _file_uri
    return env


def _static(name: str) -> bytes:
    return resources.files("leaderboard").joinpath(f"static/{name}").read_bytes()


def render_site(board: Board, title: str) -> dict[str, bytes]:
    """Every file of the site, by name: ``index.html`` (the Δ overview), ``about.html`` (how every
    number is computed), a page per target and per result (provenance), SVG charts, the downloads
    ``cells.csv``, ``cells.jsonl`` and ``leaderboard.json``, ``style.css`` and ``app.js``."""
    from harness.charts import overview_spec, render_charts, target_spec
    from harness.site_data import load_languages, load_languages_source, load_published

    env = _environment()
    languages = load_languages()
    languages_source = load_languages_source()
    published = load_published()
    pages = page_names(board.targets)
    runs = [run for row in board.rows for setting in row.settings.values() for run in setting.runs]
    cell_pages = page_names([run.cell_id for run in runs], prefix="cell-")
    charts = page_names(board.targets, prefix="chart-", suffix=".svg")
    files: dict[str, bytes] = {"style.css": _static("style.css"), "app.js": _static("app.js")}
    for vendored in sorted(resources.files("leaderboard").joinpath("static").iterdir(), key=lambda p: p.name):
        if vendored.name.startswith("vendor-"):
            files[vendored.name] = vendored.read_bytes()
    alt: dict[str, str] = {}
    specs = {}
    overview = overview_spec(board)
    if overview is not None:
        specs["chart-overview.svg"], alt["overview"] = overview, overview.alt
    for name in board.targets:
        spec = target_spec(board, name)
        if spec is not None:
            specs[charts[name]], alt[name] = spec, spec.alt
    files.update(render_charts(specs))
    reference_rows = [
        {**row, "scores": {t: row["scores"].get(t) for t in board.targets}}
        for row in published["rows"]
        if any(t in board.targets for t in row["scores"])
    ]
    common = {
        "title": title,
        "board": board,
        "targets": board.targets,
        "pages": pages,
        "cell_pages": cell_pages,
        "charts": charts,
        "alt": alt,
        "categories": CATEGORIES,
        "languages": languages,
        "languages_source": languages_source,
        "published": published,
        "reference_rows": reference_rows,
        "replicates": REPLICATES,
    }
    files["index.html"] = _text(env.get_template("index.html.j2").render(page="index", **common))
    files["about.html"] = _text(env.get_template("about.html.j2").render(page="about", **common))
    for name, info in board.targets.items():
        rows = [row for row in board.rows if name in row.settings]
        files[pages[name]] = _text(
            env.get_template("task.html.j2").render(page="task", task=name, info=info, rows=rows, **common)
        )
    for row in board.rows:
        for name, setting in row.settings.items():
            for run in setting.runs:
                files[cell_pages[run.cell_id]] = _text(
                    env.get_template("cell.html.j2").render(page="cell", row=row, task=name, run=run, **common)
                )
    files["leaderboard.json"] = _text(
        json.dumps(board_json(board), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    )
    lines = cell_lines(board)
    files["cells.csv"] = _text(cells_csv(lines))
    files["cells.jsonl"] = _text(
        "".join(json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n" for line in lines)
    )
    return files


def cell_lines(board: Board) -> list[dict[str, Any]]:
    """One object per result: its row, target, seed, main metric, aggregate and per-language scores."""
    lines = []
    for row in board.rows:
        for name, setting in row.settings.items():
            for run in setting.runs:
                lines.append(
                    {
                        "cell": run.cell_id,
                        "model": row.model,
                        "method": row.method,
                        "intermediate": row.intermediate,
                        "variant": row.variant,
                        "target": name,
                        "seed": run.seed,
                        "metric": board.targets[name].metric,
                        "average": run.aggregate,
                        "languages": {lang: run.scores[lang] for lang in sorted(run.scores)},
                        "n": {lang: run.sizes[lang] for lang in sorted(run.sizes)},
                    }
                )
    return lines


def cells_csv(lines: list[dict[str, Any]]) -> str:
    """:func:`cell_lines` in long format: one line per result and language (the average as language ``avg``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", "method", "intermediate", "target", "seed", "language", "metric", "score", "n", "cell"])
    for line in lines:
        keys = [line["model"], line["method"], line["intermediate"], line["target"], line["seed"]]
        for lang, score in line["languages"].items():
            writer.writerow([*keys, lang, line["metric"], repr(score), line["n"][lang], line["cell"]])
        writer.writerow([*keys, "avg", line["metric"], repr(line["average"]), "", line["cell"]])
    return out.getvalue()


def board_json(board: Board) -> dict[str, Any]:
    """``leaderboard.json``: targets, and per row every number the pages show."""

    def interval(value: Interval | None) -> list[float] | None:
        return None if value is None else [value.low, value.high]

    return {
        "targets": {
            name: {
                "metric": info.metric,
                "category": info.category,
                "languages": list(info.languages),
                "aggregation": info.aggregation,
                "train_language": info.train_language,
            }
            for name, info in board.targets.items()
        },
        "bootstrap": {"replicates": REPLICATES, "level": 0.95},
        "rows": [
            {
                "model": row.model,
                "method": row.method,
                "intermediate": row.intermediate,
                "variant": row.variant,
                "rank": row.rank,
                "overall": row.overall,
                "overall_delta": row.overall_delta,
                "categories": row.category_means,
                "category_deltas": row.category_deltas,
                "targets": {
                    name: {
                        "mean": setting.mean,
                        "std": setting.std,
                        "seeds": [run.seed for run in setting.runs],
                        "per_seed": [run.aggregate for run in setting.runs],
                        "languages": {lang: setting.lang_mean(lang) for lang in setting.languages},
                        "missing_languages": setting.missing(board.targets[name].languages),
                        "version_differences": setting.version_differences(),
                        "worst": setting.worst(),
                        "delta": None
                        if name not in row.deltas
                        else {
                            "value": row.deltas[name].value,
                            "interval": interval(row.deltas[name].interval),
                            "languages": row.deltas[name].languages,
                            "per_language": {
                                lang: {"value": value, "interval": interval(bounds)}
                                for lang, (value, bounds) in row.deltas[name].per_language.items()
                            },
                        },
                    }
                    for name, setting in row.settings.items()
                },
            }
            for row in board.rows
        ],
    }


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


def build_site(
    results_dir: Path, out_dir: Path, title: str = "stilts leaderboard", timings: dict[str, float] | None = None
) -> Path:
    """Write the site (:func:`render_site`) for the results in ``results_dir`` to ``out_dir``.

    Raises :class:`StiltsError` (the CLI's clean ``error: ...``) for bad input: no results, an
    invalid one (:class:`~harness.errors.SpecError`, naming file and pointer), an output path that
    is a file or a folder holding other files, or a folder that cannot be written. ``timings``,
    when given, receives the seconds each part took: ``load`` (reading and validating), ``board``
    (Δ and bootstrap intervals), ``render`` (pages, charts, downloads) and ``write``.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    clock = _Clock(timings)
    try:
        target = out_dir.resolve()  # through a symlink: the linked folder is replaced, the link kept
        _check_results_dir(results_dir, out_dir, target)
        _check_site_folder(out_dir, target)
        results = load_results(results_dir, exclude=[target])
        clock.lap("load")
        if not results:
            raise StiltsError(f"no result files found in {results_dir}")
        board = build_board(results)
        clock.lap("board")
        files = render_site(board, title=title)
        clock.lap("render")
        _publish(files, target)
        clock.lap("write")
    except OSError as exc:
        raise StiltsError(f"cannot build the leaderboard in {out_dir}: {exc}") from exc
    return out_dir / "index.html"


class _Clock:
    """Seconds between laps, into ``timings`` (nothing when it is None)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[name] = now - self.last
        self.last = now
