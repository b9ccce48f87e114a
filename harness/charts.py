"""The leaderboard's charts: self-contained SVG rendered at build time by matplotlib (no browser,
no CDN), byte-identical for the same board (fixed hash salt, no date, text kept as paths-free
``<text>``). Every chart has a text alternative built from the same numbers.

* per target: Δ vs baseline by language for each intermediate setting, with the 95 % paired
  bootstrap interval as error bars (:func:`target_chart`);
* an overview of small multiples, one panel per intermediate setting: Δ per target
  (:func:`overview_chart`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from harness.bootstrap import Interval
from harness.comparison import Board, Delta, Row

#: Okabe-Ito: distinguishable with the common colour-vision deficiencies; markers differ as well.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "stilts", "svg.fonttype": "none", "font.size": 9})
    return plt


def _svg(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
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


def target_chart(board: Board, target: str) -> tuple[bytes, str] | None:
    """Δ by language, one series per compared row; the SVG and its text alternative."""
    rows = compared_rows(board, target)
    if not rows:
        return None
    languages = sorted({lang for row in rows for lang in row.deltas[target].per_language})
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.5, 0.8 * len(languages) + 4.5), 3.4), layout="constrained")
    width = 0.8 / len(rows)
    for i, row in enumerate(rows):
        delta = row.deltas[target]
        langs = [lang for lang in languages if lang in delta.per_language]
        xs = [languages.index(lang) - 0.4 + width * (i + 0.5) for lang in langs]
        values = [delta.per_language[lang] for lang in langs]
        ax.errorbar(
            xs,
            [v for v, _ in values],
            yerr=_errors(values),
            fmt=MARKERS[i % len(MARKERS)],
            color=PALETTE[i % len(PALETTE)],
            markersize=4,
            capsize=2,
            linewidth=1,
            label=label(row),
        )
    ax.axhline(0, color="#444444", linewidth=0.8)
    ax.set_xticks(range(len(languages)), languages)
    ax.set_ylabel(f"Δ {board.targets[target].metric} vs baseline")
    ax.set_title(f"{target}: Δ by language (95% paired bootstrap interval)")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", color="#dddddd", linewidth=0.5)
    text = "; ".join(f"{label(row)}: " + describe(row.deltas[target]) for row in rows)
    return _svg(fig), f"Δ by language on {target}. {text}"


def overview_chart(board: Board) -> tuple[bytes, str] | None:
    """Small multiples: one panel per compared row, Δ per target with its interval."""
    rows = [row for row in board.rows if row.deltas]
    if not rows:
        return None
    targets = list(board.targets)
    plt = _pyplot()
    columns = min(3, len(rows))
    lines = (len(rows) + columns - 1) // columns
    fig, axes = plt.subplots(
        lines,
        columns,
        figsize=(3.2 * columns, (0.3 * len(targets) + 0.9) * lines + 0.5),
        sharex=True,
        squeeze=False,
        layout="constrained",
    )
    for index, row in enumerate(rows):
        ax = axes[index // columns][index % columns]
        present = [t for t in targets if t in row.deltas]
        values = [(row.deltas[t].value, row.deltas[t].interval) for t in present]
        ys = range(len(present))
        colours = [PALETTE[0] if v >= 0 else PALETTE[5] for v, _ in values]
        ax.barh(list(ys), [v for v, _ in values], xerr=_errors(values), color=colours, height=0.6, capsize=2)
        ax.set_yticks(list(ys), present)
        ax.invert_yaxis()
        ax.axvline(0, color="#444444", linewidth=0.8)
        ax.set_title(label(row), fontsize=8)
        ax.grid(axis="x", color="#dddddd", linewidth=0.5)
    for index in range(len(rows), lines * columns):
        axes[index // columns][index % columns].axis("off")
    fig.supxlabel("Δ vs baseline (target average, 95% interval)")
    text = "; ".join(
        f"{label(row)}: " + ", ".join(f"{t} {row.deltas[t].value:+.1f}" for t in targets if t in row.deltas)
        for row in rows
    )
    return _svg(fig), f"Δ per target for each intermediate setting. {text}"


def label(row: Row) -> str:
    return f"{row.intermediate} ({row.model}, {row.method})"


def describe(delta: Delta) -> str:
    parts = []
    for lang, (value, interval) in delta.per_language.items():
        bounds = f" [{interval.low:+.1f}, {interval.high:+.1f}]" if interval is not None else ""
        parts.append(f"{lang} {value:+.1f}{bounds}")
    return ", ".join(parts)
