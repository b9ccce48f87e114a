"""A board (:mod:`harness.comparison`) as Markdown: the tables a paper, a README or an issue
quotes. Two tables: scores (mean ± sd over seeds, with the number of seeds) and Δ against the
baseline with its 95 % paired bootstrap interval (significant ones in bold)."""

from __future__ import annotations

from harness.comparison import CATEGORIES, Board, Delta


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row_name(board: Board, model: str, method: str, intermediate: str) -> str:
    models = {row.model for row in board.rows}
    methods = {row.method for row in board.rows}
    parts = [model] if len(models) > 1 else []
    parts += [method] if len(methods) > 1 else []
    parts.append(intermediate)
    return _escape(" · ".join(parts))


def _delta_text(delta: Delta | None) -> str:
    if delta is None:
        return "–"
    if delta.interval is None:
        return f"{delta.value:+.1f}"
    text = f"{delta.value:+.1f} [{delta.interval.low:+.1f}, {delta.interval.high:+.1f}]"
    return f"**{text}**" if delta.interval.significant else text


def markdown_tables(board: Board) -> str:
    """The scores table and the Δ table, with a header line naming each target's metric."""
    targets = list(board.targets)
    categories = list(board.categories)
    header = ["", *(f"{name} ({board.targets[name].metric})" for name in targets), "average"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in board.rows:
        cells = [_row_name(board, row.model, row.method, row.intermediate)]
        for name in targets:
            setting = row.settings.get(name)
            if setting is None:
                cells.append("–")
                continue
            spread = f" ± {setting.std:.1f}" if setting.std is not None else ""
            cells.append(f"{setting.mean:.1f}{spread}")
        cells.append("–" if row.overall is None else f"{row.overall:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    seeds = sorted({len(s.runs) for row in board.rows for s in row.settings.values()})
    lines.append("")
    lines.append(f"Mean ± sample sd over {'/'.join(map(str, seeds))} seed(s).")
    compared = [row for row in board.rows if row.deltas]
    if compared:
        header = ["Δ vs none", *targets, *(CATEGORIES[c] for c in categories), "average"]
        lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in compared:
            cells = [_row_name(board, row.model, row.method, row.intermediate)]
            cells += [_delta_text(row.deltas.get(name)) for name in targets]
            cells += [
                "–" if row.category_deltas.get(c) is None else f"{row.category_deltas[c]:+.1f}" for c in categories
            ]
            cells.append("–" if row.overall_delta is None else f"{row.overall_delta:+.1f}")
            lines.append("| " + " | ".join(cells) + " |")
        lines += [
            "",
            "Δ over the languages both rows scored; [95% paired bootstrap interval over examples and seeds], "
            "**bold** when it excludes 0; no interval where the metric does not decompose over examples.",
        ]
    return "\n".join(lines) + "\n"
