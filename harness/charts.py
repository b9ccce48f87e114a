"""The leaderboard's charts: self-contained SVG rendered at build time by matplotlib (no browser,
no CDN), byte-identical for the same board (fixed hash salt, no date, text kept as paths-free
``<text>``). Every chart has a text alternative built from the same numbers.

* per target: Δ vs baseline by language for each intermediate setting, with the 95 % paired
  bootstrap interval as error bars (:func:`target_spec`);
* an overview of small multiples, one panel per intermediate setting: Δ per target
  (:func:`overview_spec`).

A chart is first described as plain data (:class:`ChartSpec`: every number and label matplotlib
is given), then drawn. Drawing is the slow part, and a chart's SVG depends only on that data and
on the drawing environment (this module's code, the matplotlib and numpy versions, matplotlib's
settings and font), so the SVG is kept in a memo keyed by a digest of both
(``charts.sqlite3`` in ``$STILTS_CACHE_DIR``): a rebuild redraws only the charts whose numbers
changed.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.blob_memo import BlobMemo
from harness.bootstrap import Interval
from harness.comparison import Board, Delta, Row

#: Okabe-Ito: distinguishable with the common colour-vision deficiencies; markers differ as well.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: Most legend entries in one column of a target chart (more rows: more columns).
LEGEND_LINES = 24
#: matplotlib settings every chart is drawn with (on top of the user's own).
RC: dict[str, Any] = {"svg.hashsalt": "stilts", "svg.fonttype": "none", "font.size": 9}
#: How many drawn charts the memo keeps (the most recently used ones).
MEMO_CHARTS = 500
#: matplotlib settings that choose the interactive machinery, not what an SVG holds (and change
#: when pyplot is first imported).
_NOT_DRAWING = frozenset({"backend", "backend_fallback", "interactive", "toolbar"})


@dataclass(frozen=True)
class ChartSpec:
    """What one chart shows, as plain data: ``kind`` (``"target"`` or ``"overview"``) and the
    arguments of its drawing (``data``, JSON values only), and the chart's text alternative."""

    kind: str
    data: dict[str, Any]
    alt: str


def _matplotlib() -> Any:
    import matplotlib

    settings: Any = matplotlib.rcParams  # typed with its known keys only
    settings.update(RC)
    return matplotlib


def _pyplot() -> Any:
    matplotlib = _matplotlib()
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _svg(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})  # laid out already (constrained)
    _pyplot().close(fig)
    return buffer.getvalue()


def _errors(deltas: Sequence[tuple[float, Interval | None]]) -> list[list[float]]:
    """matplotlib's asymmetric error bars (below, above) from intervals; none drawn without one."""
    low, high = [], []
    for value, interval in deltas:
        low.append(0.0 if interval is None else max(0.0, value - interval.low))
        high.append(0.0 if interval is None else max(0.0, interval.high - value))
    return [low, high]


def compared_rows(board: Board, target: str) -> list[Row]:
    return [row for row in board.rows if target in row.deltas]


def target_spec(board: Board, target: str) -> ChartSpec | None:
    """Δ by language, one series per compared row (None when no row is compared on ``target``)."""
    rows = compared_rows(board, target)
    if not rows:
        return None
    languages = sorted({lang for row in rows for lang in row.deltas[target].per_language})
    width = 0.8 / len(rows)
    series = []
    for i, row in enumerate(rows):
        delta = row.deltas[target]
        langs = [lang for lang in languages if lang in delta.per_language]
        values = [delta.per_language[lang] for lang in langs]
        series.append(
            {
                "xs": [languages.index(lang) - 0.4 + width * (i + 0.5) for lang in langs],
                "values": [v for v, _ in values],
                "errors": _errors(values),
                "marker": MARKERS[(i // len(PALETTE)) % len(MARKERS)],  # 64 distinct pairs
                "color": PALETTE[i % len(PALETTE)],
                "label": label(row),
            }
        )
    data = {
        # tall enough for the legend beside the plot: one line per row, up to LEGEND_LINES per column
        "size": [max(6.5, 0.8 * len(languages) + 4.5), max(3.4, 0.8 + 0.14 * min(len(rows), LEGEND_LINES))],
        "legend_columns": -(-len(rows) // LEGEND_LINES),
        "languages": languages,
        "series": series,
        "ylabel": f"Δ {board.targets[target].metric} vs baseline",
        "title": f"{target}: Δ by language (95% paired bootstrap interval)",
    }
    text = "; ".join(f"{label(row)}: " + describe(row.deltas[target]) for row in rows)
    return ChartSpec("target", data, f"Δ by language on {target}. {text}")


def _draw_target(data: Mapping[str, Any]) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=tuple(data["size"]), layout="constrained")
    for series in data["series"]:
        ax.errorbar(
            series["xs"],
            series["values"],
            yerr=series["errors"],
            fmt=series["marker"],
            color=series["color"],
            markersize=4,
            capsize=2,
            linewidth=1,
            label=series["label"],
        )
    ax.axhline(0, color="#444444", linewidth=0.8)
    ax.set_xticks(range(len(data["languages"])), data["languages"])
    ax.set_ylabel(data["ylabel"])
    ax.set_title(data["title"])
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0), ncols=data["legend_columns"])
    ax.grid(axis="y", color="#dddddd", linewidth=0.5)
    return _svg(fig)


def overview_spec(board: Board) -> ChartSpec | None:
    """Small multiples: one panel per compared row, Δ per target with its interval."""
    rows = [row for row in board.rows if row.deltas]
    if not rows:
        return None
    targets = list(board.targets)
    columns = min(3, len(rows))
    lines = (len(rows) + columns - 1) // columns
    panels = []
    for row in rows:
        present = [t for t in targets if t in row.deltas]
        values = [(row.deltas[t].value, row.deltas[t].interval) for t in present]
        panels.append(
            {
                "targets": present,
                "values": [v for v, _ in values],
                "errors": _errors(values),
                "colours": [PALETTE[0] if v >= 0 else PALETTE[5] for v, _ in values],
                "title": label(row),
            }
        )
    data = {
        "lines": lines,
        "columns": columns,
        "size": [3.2 * columns, (0.3 * len(targets) + 0.9) * lines + 0.5],
        "panels": panels,
    }
    text = "; ".join(
        f"{label(row)}: " + ", ".join(f"{t} {row.deltas[t].value:+.1f}" for t in targets if t in row.deltas)
        for row in rows
    )
    return ChartSpec("overview", data, f"Δ per target for each intermediate setting. {text}")


def _draw_overview(data: Mapping[str, Any]) -> bytes:
    plt = _pyplot()
    lines, columns = data["lines"], data["columns"]
    fig, axes = plt.subplots(lines, columns, figsize=tuple(data["size"]), sharex=True, squeeze=False)
    _place_panels(fig, data)
    for index, panel in enumerate(data["panels"]):
        ax = axes[index // columns][index % columns]
        ys = range(len(panel["targets"]))
        ax.barh(list(ys), panel["values"], xerr=panel["errors"], color=panel["colours"], height=0.6, capsize=2)
        ax.set_yticks(list(ys), panel["targets"])
        ax.invert_yaxis()
        ax.axvline(0, color="#444444", linewidth=0.8)
        ax.set_title(panel["title"], fontsize=8)
        ax.grid(axis="x", color="#dddddd", linewidth=0.5)
    for index in range(len(data["panels"]), lines * columns):
        axes[index // columns][index % columns].axis("off")
    # (0.08 in above the bottom edge, whatever the figure's height: below the bottom tick labels)
    fig.supxlabel("Δ vs baseline (target average, 95% interval)", y=0.08 / data["size"][1], va="bottom")
    return _svg(fig)


def _place_panels(fig: Any, data: Mapping[str, Any]) -> None:
    """Margins and gaps of the overview's grid from the measured sizes of its texts: the widest
    target name beside each panel, a title above it, tick labels and the axis label at the bottom.
    This is what constrained layout finds, without its passes over every panel (half the drawing
    time of a 40-panel overview)."""
    from matplotlib.font_manager import FontProperties

    renderer = fig.canvas.get_renderer()

    def inches(text: str, size: Any) -> tuple[float, float]:
        width, height, _descent = renderer.get_text_width_height_descent(text, FontProperties(size=size), False)
        return width / fig.dpi, height / fig.dpi

    names = [name for panel in data["panels"] for name in panel["targets"]] or [""]
    label_width = max(inches(name, "medium")[0] for name in names) + 0.15  # tick, pad
    title_height = inches("Ag", 8)[1] + 0.12
    bottom = inches("0", "medium")[1] + inches("Ag", "large")[1] + 0.3  # tick labels, axis label, pads
    width, height = data["size"]
    left, right, top = label_width + 0.05, 0.15, title_height + 0.05
    columns, lines = data["columns"], data["lines"]
    axes_width = (width - left - right - (columns - 1) * left) / columns
    axes_height = (height - top - bottom - (lines - 1) * top) / lines
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        top=1 - top / height,
        bottom=bottom / height,
        wspace=left / max(axes_width, 0.1),
        hspace=top / max(axes_height, 0.1),
    )


_DRAW = {"target": _draw_target, "overview": _draw_overview}


def draw(spec: ChartSpec) -> bytes:
    """The chart's SVG, drawn by matplotlib (no memo)."""
    return _DRAW[spec.kind](spec.data)


def render_charts(specs: Mapping[str, ChartSpec]) -> dict[str, bytes]:
    """Each chart's SVG, by name: from the memo where the same chart was drawn before in the same
    drawing environment, else drawn (and remembered)."""
    memo = BlobMemo("charts.sqlite3", max_entries=MEMO_CHARTS)
    environment = drawing_environment()
    out: dict[str, bytes] = {}
    try:
        for name, spec in specs.items():
            key = chart_key(spec, environment)
            svg = memo.get(key)
            if svg is None:
                svg = draw(spec)
                memo.put(key, svg)
            out[name] = svg
    finally:
        memo.close()
    return out


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def drawing_environment() -> str:
    """A digest of what, besides a chart's data, decides its SVG: this module's code, the versions
    of matplotlib (and its FreeType and layout solver) and numpy, matplotlib's settings now (with
    :data:`RC`) and the font found for them."""
    import numpy as np

    matplotlib = _matplotlib()
    from matplotlib import font_manager, ft2font

    settings = {key: repr(value) for key, value in dict.items(matplotlib.rcParams) if key not in _NOT_DRAWING}
    font = font_manager.findfont(font_manager.FontProperties(family=matplotlib.rcParams["font.family"]))
    parts = {
        "code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        "matplotlib": matplotlib.__version__,
        "freetype": ft2font.__freetype_version__,  # text extents
        "kiwisolver": _version("kiwisolver"),  # the constrained layout's solver
        "numpy": np.__version__,
        "settings": settings,
        "font": font,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def chart_key(spec: ChartSpec, environment: str) -> str:
    """The memo key of a chart: a digest of its kind, its data and ``environment``
    (:func:`drawing_environment`)."""
    text = json.dumps([spec.kind, spec.data, environment], sort_keys=True, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def label(row: Row) -> str:
    return f"{row.label} ({row.model}, {row.method})"


def describe(delta: Delta) -> str:
    parts = []
    for lang, (value, interval) in delta.per_language.items():
        bounds = f" [{interval.low:+.1f}, {interval.high:+.1f}]" if interval is not None else ""
        parts.append(f"{lang} {value:+.1f}{bounds}")
    return ", ".join(parts)
