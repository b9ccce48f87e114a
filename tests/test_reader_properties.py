"""Property tests over every registered data reader (hypothesis; issue 22, part 6).

Two properties per built-in format:

* **round trip**: records drawn by hypothesis, written in the format's layout by an independent
  writer here, read back equal (text with quotes, commas, unicode, empty fields ...);
* **never a traceback**: any bytes, and mutations of a valid file (truncated, a byte flipped, a
  line dropped), either read into records or fail with a :class:`~harness.errors.DataError` —
  never another exception.

A format registered by the built-in plugins without a writer here fails
``test_every_builtin_format_has_reader_properties``. Runs are derandomized (the same examples each
run) and bounded.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from harness.errors import DataError  # noqa: E402

SETTINGS = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

#: Characters allowed inside one cell or line: no line breaks (universal newlines and
#: str.splitlines both), no tab, no NUL (refused by the record checks), no byte order mark.
BREAKS = "\t\n\r\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\ufeff"
cell = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=BREAKS), max_size=12)
word = cell.filter(lambda text: text.strip() != "")
stripped = cell.map(str.strip)


def read_format(catalog, name: str, files: dict[str, bytes], options: dict[str, Any] | None = None) -> list[dict]:
    """Write ``files`` (role -> bytes) to a temporary folder and read them with format ``name``."""
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for role, data in files.items():
            paths[role] = Path(folder) / f"{role}.data"
            paths[role].write_bytes(data)
        return list(catalog.data_format(name).read(paths, options or {}))


def lines(rows: list[str]) -> bytes:
    return "".join(row + "\n" for row in rows).encode("utf-8")


# -- writers: records -> (files, options, the records the reader must give) --------------------------
columns_strategy = st.lists(word.filter(lambda text: text == text.strip()), min_size=2, max_size=4, unique=True)


@st.composite
def tsv_case(draw: Any) -> tuple[dict[str, bytes], dict[str, Any], list[dict]]:
    columns = draw(columns_strategy)
    rows = draw(st.lists(st.lists(cell, min_size=len(columns), max_size=len(columns)), max_size=8))
    rows = [row for row in rows if any(row) or len(row) > 1]
    records = [dict(zip(columns, row)) for row in rows]
    return {"path": lines(["\t".join(row) for row in rows])}, {"columns": columns}, records


@st.composite
def csv_case(draw: Any) -> tuple[dict[str, bytes], dict[str, Any], list[dict]]:
    columns = draw(columns_strategy)
    free_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufeff"), max_size=12)
    rows = draw(st.lists(st.lists(free_text, min_size=len(columns), max_size=len(columns)), max_size=8))
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(rows)
    return {"path": out.getvalue().encode("utf-8")}, {}, [dict(zip(columns, row)) for row in rows]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**9), 10**9) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def jsonl_case(draw: Any) -> tuple[dict[str, bytes], dict[str, Any], list[dict]]:
    records = draw(st.lists(st.dictionaries(st.text(max_size=6), json_values, max_size=4), max_size=6))
    return {"path": lines([json.dumps(record) for record in records])}, {}, records


@st.composite
def text_lines_case(draw: Any) -> tuple[dict[str, bytes], dict[str, Any], list[dict]]:
    texts = draw(st.lists(word, max_size=8))
    return {"path": lines(texts)}, {}, [{"text": text} for text in texts]


@st.composite
def aligned_lines_case(draw: Any) -> tuple[dict[str, bytes], dict[str, Any], list[dict]]:
    pairs = draw(st.lists(st.tuples(cell, cell), max_size=8))
    files = {"source": lines([a for a, _ in pairs]), "target": lines([b for _, b in pairs])}
    return files, {}, [{"source": a.strip(), "target": b.strip()} for a, b in pairs]


sentences_strategy = st.lists(
    st.lists(st.tuples(word.filter(lambda text: "\t" not in text), word), min_size=1, max_size=5), max_size=5
)


@st.composite
def conll_tags_case(draw: Any) -> tuple[dict[str, bytes], dict[str, Any], list[dict]]:
    sentences = draw(sentences_strategy)
    rows: list[str] = []
    for sentence in sentences:
        rows += [f"{token}\t{tag}" for token, tag in sentence] + [""]
    records = [{"tokens": [t for t, _ in s], "tags": [g for _, g in s]} for s in sentences]
    return {"path": lines(rows)}, {}, records


@st.composite
def conllu_case(draw: Any) -> tuple[dict[str, bytes], dict[str, Any], list[dict]]:
    sentences = draw(sentences_strategy)
    rows: list[str] = []
    for n, sentence in enumerate(sentences):
        rows.append(f"# sent_id = {n}")
        for i, (token, tag) in enumerate(sentence, start=1):
            rows.append("\t".join([str(i), token, "_", tag, "X", "_", "0", "root", "_", "_"]))
        rows.append("")
    records = [{"tokens": [t for t, _ in s], "tags": [g for _, g in s]} for s in sentences]
    return {"path": lines(rows)}, {}, records


@st.composite
def squad_json_case(draw: Any) -> tuple[dict[str, bytes], dict[str, Any], list[dict]]:
    text = st.text(max_size=20)
    records: list[dict] = []
    data = []
    for a in range(draw(st.integers(0, 3))):
        title = draw(text)
        paragraphs = []
        for p in range(draw(st.integers(0, 2))):
            context = draw(text)
            qas = []
            for q in range(draw(st.integers(0, 3))):
                answers = draw(st.lists(st.tuples(text, st.integers(0, 500)), max_size=2))
                qa_id = f"{a}-{p}-{q}"
                question = draw(text)
                qas.append(
                    {"id": qa_id, "question": question, "answers": [{"text": t, "answer_start": s} for t, s in answers]}
                )
                records.append(
                    {
                        "id": qa_id,
                        "title": title,
                        "context": context,
                        "question": question,
                        "answers": {"text": [t for t, _ in answers], "answer_start": [s for _, s in answers]},
                    }
                )
            paragraphs.append({"context": context, "qas": qas})
        data.append({"title": title, "paragraphs": paragraphs})
    return {"path": json.dumps({"version": "1.1", "data": data}).encode("utf-8")}, {}, records


@st.composite
def hellaswag_text_case(draw: Any) -> tuple[dict[str, bytes], dict[str, Any], list[dict]]:
    examples = draw(st.lists(st.tuples(cell, st.integers(0, 3), st.lists(cell, min_size=4, max_size=4)), max_size=5))
    rows: list[str] = []
    for context, label, endings in examples:
        rows += [context, str(label), *endings]
    records = [{"ctx": c, "label": str(label), "endings": e} for c, label, e in examples]
    return {"path": lines(rows)}, {}, records


@st.composite
def bucc_corpus_case(draw: Any) -> tuple[dict[str, bytes], dict[str, Any], list[dict]]:
    side = st.lists(st.tuples(word, word), max_size=6)
    source, target = draw(side), draw(side)
    gold = [[s[0].strip(), t[0].strip()] for s, t in zip(source, target)][: draw(st.integers(0, 6))]
    files = {
        "source": lines([f"{i}\t{text}" for i, text in source]),
        "target": lines([f"{i}\t{text}" for i, text in target]),
        "gold": lines(["\t".join(pair) for pair in gold]),
    }
    record = {
        "source": [[i.strip(), text.strip()] for i, text in source],
        "target": [[i.strip(), text.strip()] for i, text in target],
        "gold": gold,
    }
    return files, {}, [record]


@st.composite
def xquad_r_case(draw: Any) -> tuple[dict[str, bytes], dict[str, Any], list[dict]]:
    """One language file whose paragraphs carry sentence breaks (XQuAD-R's layout)."""
    records: list[dict] = []
    paragraphs = []
    for p in range(draw(st.integers(0, 3))):
        sentences = draw(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=3))
        context = "".join(sentences)
        breaks, start = [], 0
        for sentence in sentences:
            breaks.append([start, start + len(sentence)])
            start += len(sentence)
        qas = []
        for q in range(draw(st.integers(0, 2))):
            answer_at = draw(st.integers(0, max(len(context) - 1, 0)))
            qa = {
                "id": f"{p}-{q}",
                "question": draw(st.text(max_size=10)),
                "answers": [{"text": "x", "answer_start": answer_at}],
            }
            qas.append(qa)
            index = next((i for i, (s, e) in enumerate(breaks) if s <= answer_at < e), None)
            records.append(
                {
                    "id": qa["id"],
                    "title": "t",
                    "question": qa["question"],
                    "language": "de",
                    "query": True,
                    "paragraph": f"de_{p + 1}",
                    "sentences": sentences,
                    "answer_sentence": index,
                    "context": context,
                }
            )
        paragraphs.append({"context": context, "sentence_breaks": breaks, "qas": qas})
    document = {"data": [{"title": "t", "paragraphs": paragraphs}]} if paragraphs else {"data": []}
    return {"de": json.dumps(document).encode("utf-8")}, {}, records


CASES: dict[str, Callable[[], Any]] = {
    "tsv": tsv_case,
    "csv": csv_case,
    "jsonl": jsonl_case,
    "text_lines": text_lines_case,
    "aligned_lines": aligned_lines_case,
    "conll_tags": conll_tags_case,
    "conllu": conllu_case,
    "squad_json": squad_json_case,
    "hellaswag_text": hellaswag_text_case,
    "bucc_corpus": bucc_corpus_case,
    "xquad_r": xquad_r_case,
}


def test_every_builtin_format_has_reader_properties(catalog) -> None:
    builtin = {name for name, entry in catalog.format_entries.items() if entry.load().__module__.startswith("plugins.")}
    assert builtin and builtin <= set(CASES), f"formats without property tests: {sorted(builtin - set(CASES))}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_records_written_in_the_format_read_back_equal(catalog, name: str) -> None:
    @SETTINGS
    @given(CASES[name]())
    def round_trip(case: tuple[dict[str, bytes], dict[str, Any], list[dict]]) -> None:
        files, options, records = case
        assert read_format(catalog, name, files, options) == records

    round_trip()


@st.composite
def mutated(draw: Any, name: str) -> tuple[dict[str, bytes], dict[str, Any]]:
    """A valid file of ``name`` with one role's bytes truncated, flipped, cut by a line, or
    replaced by arbitrary bytes."""
    files, options, _ = draw(CASES[name]())
    role = draw(st.sampled_from(sorted(files)))
    data = files[role]
    how = draw(st.sampled_from(["truncate", "flip", "drop_line", "random", "random_json"]))
    if how == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif how == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1 :]
    elif how == "drop_line":
        kept = data.split(b"\n")
        if kept:
            kept.pop(draw(st.integers(0, len(kept) - 1)))
        data = b"\n".join(kept)
    elif how == "random":
        data = draw(st.binary(max_size=200))
    else:
        data = json.dumps(draw(json_values)).encode("utf-8")
    return {**files, role: data}, options


@pytest.mark.parametrize("name", sorted(CASES))
def test_any_bytes_read_into_records_or_a_data_error_never_a_traceback(catalog, name: str) -> None:
    @SETTINGS
    @given(mutated(name))
    def robust(case: tuple[dict[str, bytes], dict[str, Any]]) -> None:
        files, options = case
        try:
            records = read_format(catalog, name, files, options)
        except DataError as exc:
            assert str(exc).strip(), "a DataError says what is wrong"
        else:
            assert all(isinstance(record, dict) for record in records)

    robust()
