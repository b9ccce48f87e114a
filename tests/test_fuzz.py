"""Fuzzing the three schemas and their loaders (hypothesis + hypothesis-jsonschema).

(a) Documents generated from each shipped schema pass that schema, survive a write/read round trip
    through ``load_validated``, and ``Catalog.load_spec``/``load_experiment`` accept them or refuse
    them with a :class:`SpecError` (a generated spec names unregistered task types, for example).
(b) Shipped specs, experiments and a valid result are mutated (keys deleted or renamed, types
    changed, random unicode, huge, deeply nested, NaN values inserted; bad bytes, a BOM, UTF-16,
    duplicate keys, NaN literals, truncation in the file) and loaded: the loaders must accept the
    document or raise :class:`SpecError`, never anything else.

Every document tried is counted by outcome; ``test_fuzz_summary`` (last in this file) prints the
counts and fails on any traceback. Runs are derandomized (the same documents each run) and
bounded; ``STILTS_FUZZ_EXAMPLES`` scales the number of examples (default 1.0).
"""

from __future__ import annotations

import codecs
import copy
import json
import math
import os
import re
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
hypothesis_jsonschema = pytest.importorskip("hypothesis_jsonschema")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from harness.errors import SpecError  # noqa: E402
from harness.experiment import load_experiment  # noqa: E402
from harness.specs import load_schema, load_validated, schema_issues  # noqa: E402
from tests.test_bad_input import valid_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCALE = float(os.environ.get("STILTS_FUZZ_EXAMPLES", "1"))

#: outcome counts: (phase, kind, outcome) -> n; outcome is "accepted", "clean" (SpecError) or "traceback"
COUNTS: Counter = Counter()
TRACEBACKS: list[str] = []


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )


# -- hypothesis-jsonschema speed -----------------------------------------------------------------
# hypothesis-jsonschema (pinned to 0.23.1 with hypothesis <= 6.170.0 in the test extra: later
# hypothesis releases removed the private ``many.more()`` it draws objects with) rebuilds the same
# strategies on every draw. Memoising them, for this module only, makes generation about 5x faster.
@pytest.fixture(scope="module", autouse=True)
def _memoised_hypothesis_jsonschema():
    import hypothesis_jsonschema._from_schema as from_schema_module

    names = [n for n in ("merged_as_strategies", "__from_schema", "make_validator") if hasattr(from_schema_module, n)]
    saved = {name: getattr(from_schema_module, name) for name in names}

    def memo(fn: Any) -> Any:
        cache: dict = {}

        def wrapper(schema: Any, *args: Any, **kwargs: Any) -> Any:
            key = (
                json.dumps(schema, sort_keys=True, default=str),
                args,
                tuple(sorted((k, id(v)) for k, v in kwargs.items())),
            )
            if key not in cache:
                cache[key] = fn(schema, *args, **kwargs)
            return cache[key]

        return wrapper

    for name in names:
        setattr(from_schema_module, name, memo(saved[name]))
    yield
    for name, value in saved.items():
        setattr(from_schema_module, name, value)


# -- loading and counting ----------------------------------------------------------------------
def load(kind: str, path: Path, catalog: Any, data: Any = None) -> Any:
    if kind == "task_spec":
        return catalog.load_spec(path)
    if kind == "experiment":
        return load_experiment(path, catalog, data)
    return load_validated(path, "result")


def attempt(phase: str, kind: str, fn: Any, *args: Any) -> str:
    """Run a loader; count accepted / clean SpecError / traceback (re-raised for hypothesis)."""
    try:
        fn(*args)
    except SpecError as exc:
        for issue in exc.issues:  # every issue names the file and prints
            assert issue.file and str(issue)
        str(exc).encode("utf-8")  # printable on a UTF-8 console (no lone surrogates)
        COUNTS[phase, kind, "clean"] += 1
        return "clean"
    except Exception:
        COUNTS[phase, kind, "traceback"] += 1
        TRACEBACKS.append(f"{phase} {kind}:\n{traceback.format_exc()}")
        raise
    COUNTS[phase, kind, "accepted"] += 1
    return "accepted"


# -- (a) documents generated from the schemas --------------------------------------------------
# Free-form objects (task_options, a result's config, versions, data entries, the stored
# experiment) are opaque to the schemas; for generation they get a few scalar values only, which
# keeps each example fast. Everything else is generated from the shipped schema as it is.
_SCALARS = {"type": ["string", "integer", "boolean", "null"], "maxLength": 20}


def for_generation(node: Any) -> Any:
    if isinstance(node, dict):
        out = {key: for_generation(value) for key, value in node.items()}
        free = not any(k in out for k in ("properties", "additionalProperties", "patternProperties", "$ref"))
        if out.get("type") == "object" and free:
            out.update(additionalProperties=_SCALARS, maxProperties=3)
        elif out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = _SCALARS
        return out
    if isinstance(node, list):
        return [for_generation(value) for value in node]
    return node


@pytest.mark.parametrize("kind", ["task_spec", "experiment", "result"])
def test_generated_documents_pass_their_schema(kind: str, catalog, tmp_path: Path) -> None:
    schema = load_schema(kind)
    path = tmp_path / f"{kind}.json"

    @fuzz_settings(30)
    @given(hypothesis_jsonschema.from_schema(for_generation(schema)))
    def check(document: Any) -> None:
        assert schema_issues(document, schema, "generated") == [], document
        path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        assert load_validated(path, kind) == document
        COUNTS["generated", kind, "valid"] += 1
        attempt("generated", kind, load, kind, path, catalog)

    check()


# -- (b) mutated shipped documents ---------------------------------------------------------------
def seeds() -> dict[str, list[tuple[str, Any]]]:
    specs = sorted((REPO / "task_specs").glob("*.json")) + sorted((REPO / "plugins/quickstart/tasks").glob("*.json"))
    experiments = [*sorted((REPO / "examples").glob("*.json")), REPO / "plugins/quickstart/quickstart.json"]
    return {
        "task_spec": [(p.name, json.loads(p.read_text(encoding="utf-8"))) for p in specs],
        "experiment": [(p.name, json.loads(p.read_text(encoding="utf-8"))) for p in experiments],
        "result": [("result", valid_result())],
    }


SEEDS = seeds()
FORMATS = [
    "tsv",
    "csv",
    "jsonl",
    "aligned_lines",
    "text_lines",
    "conll_tags",
    "conllu",
    "squad_json",
    "hellaswag_text",
    "bucc_corpus",
    "tvs",
    "json",
    "",
    "TSV",
]
OPTION_KEYS = [
    "columns",
    "colums",
    "header",
    "skip_malformed",
    "delimiter",
    "token_column",
    "tag_column",
    "tag_field",
    "x",
]
NASTY = [
    "",
    " ",
    "\n",
    "en\n",
    "\ten",
    "../../etc/passwd",
    "a/b",
    "\x00",
    "nul\x00byte",
    "\ufeffen",
    "\ud800",
    "\udfff",
    "x" * 100_000,
    "NaN",
    "Infinity",
    "{lang}",
    "{data_dir}/../../x",
    "C:\\x",
    "\u202eevil",
    "\U0001f600",
    "none",
    "from_train",
    "en-",
    "zh-Hans",
    "0:10\n",
    "-1:",
    "9" * 30 + ":",
    "\r\n",
    "\x1b[31mred",
]
DEEP = "__deep_{}__"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**32, 2**32 - 1, -1, 0, 10**400, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, 5e-324, -0.0, 1.0, 0.5]),
    st.text(max_size=12),
    st.text(st.characters(codec="utf-8"), max_size=12),
    st.sampled_from(NASTY),
    st.integers(50, 5000).map(DEEP.format),  # replaced by arrays nested that deep
)
values = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=8), kids, max_size=3)),
    max_leaves=8,
)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += paths(value, (*prefix, i))
    return out


def parent_of(doc: Any, path: tuple) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


def typo(draw: Any, word: str) -> str:
    if not word:
        return "x"
    i = draw(st.integers(0, len(word) - 1))
    how = draw(st.sampled_from(["drop", "double", "swap", "upper", "space"]))
    if how == "drop":
        return word[:i] + word[i + 1 :] or "x"
    if how == "double":
        return word[:i] + word[i] + word[i:]
    if how == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if how == "upper":
        return word.upper()
    return word + " "


def retype(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return len(value) if len(value) % 2 else [value]
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return "null"


@st.composite
def mutated(draw: Any, kind: str) -> tuple[str, Any]:
    """A mutated copy of one seed document and a description of what was done."""
    name, seed = draw(st.sampled_from(SEEDS[kind]))
    doc = copy.deepcopy(seed)
    done = [name]
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["delete", "replace", "retype", "insert", "rename", "semantic"]))
        if op == "semantic":
            doc = semantic_mutation(draw, kind, doc)
            done.append(op)
            continue
        where = draw(st.sampled_from(paths(doc)))
        if op == "replace" or (not where and op != "insert"):
            if where:
                parent_of(doc, where)[where[-1]] = draw(values)
            else:
                doc = draw(values)
        elif op == "delete":
            del parent_of(doc, where)[where[-1]]
        elif op == "retype":
            parent_of(doc, where)[where[-1]] = retype(parent_of(doc, where)[where[-1]])
        else:
            target = doc
            for part in where:
                target = target[part]
            if isinstance(target, dict) and target and op == "rename":
                old = draw(st.sampled_from(sorted(target)))
                target[typo(draw, old)] = target.pop(old)
            elif isinstance(target, dict):
                target[draw(st.one_of(st.text(max_size=10), st.sampled_from(NASTY)))] = draw(values)
            elif isinstance(target, list):
                target.insert(draw(st.integers(0, len(target))), draw(values))
        done.append(f"{op} {'/'.join(map(str, where))}")
    return " | ".join(done), doc


def semantic_mutation(draw: Any, kind: str, doc: Any) -> Any:
    """Changes the schema allows but the catalog checks: formats, format options, source overrides."""
    if not isinstance(doc, dict):
        return doc
    source = {
        "format": draw(st.sampled_from(FORMATS)),
        "files": {"train": "x.tsv", "eval": "x-{lang}.tsv"},
        "options": draw(st.dictionaries(st.sampled_from(OPTION_KEYS), values, max_size=3)),
    }
    if kind != "result" and not isinstance(doc.get("sources"), dict):
        doc["sources"] = {}
    if kind == "task_spec":
        doc["sources"]["local"] = source
    elif kind == "experiment":
        task = draw(st.sampled_from(["xnli", "mnli", "xnil", "qs-paws", "tatoeba"]))
        _, spec = draw(st.sampled_from(SEEDS["task_spec"]))
        override = copy.deepcopy(spec["sources"]) if draw(st.booleans()) else {"local": source}
        doc["sources"][task] = override
    else:
        doc["languages"] = {draw(st.sampled_from(["en", "de", "e n", ""])): {"n": 1, "accuracy": draw(values)}}
    return doc


def deep_text(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_value(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def materialise(doc: Any) -> Any:
    """The document with ``__deep_N__`` markers replaced by arrays nested N deep (in memory)."""
    if isinstance(doc, str):
        match = re.fullmatch(r"__deep_(\d+)__", doc)
        return deep_value(int(match.group(1))) if match else doc
    if isinstance(doc, dict):
        return {k: materialise(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [materialise(v) for v in doc]
    return doc


@st.composite
def encoded(draw: Any, doc: Any) -> tuple[str, bytes]:
    """The document as file bytes, standard or damaged."""
    ascii_only = draw(st.booleans())
    text = json.dumps(doc, ensure_ascii=ascii_only, indent=draw(st.sampled_from([None, 2])))  # NaN -> NaN literal
    text = re.sub(r'"__deep_(\d+)__"', lambda m: deep_text(int(m.group(1))), text)
    how = draw(
        st.sampled_from(
            [
                "plain",
                "plain",
                "bom",
                "duplicate",
                "bad_bytes",
                "truncate",
                "utf16",
                "nan_literal",
                "long_number",
                "wrap_deep",
            ]
        )
    )
    if how == "duplicate" and isinstance(doc, dict) and doc:
        key = draw(st.sampled_from(sorted(doc)))
        text = "{" + json.dumps(key) + ": " + json.dumps(draw(scalars)) + ", " + text.lstrip()[1:]
    elif how == "nan_literal":
        literal = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e400"]))
        text = re.sub(r"(: )(-?[0-9][0-9.eE+-]*)", lambda m: m.group(1) + literal, text, count=1)
    elif how == "long_number":
        text = re.sub(
            r"(: )(-?[0-9]+)", lambda m: m.group(1) + "9" * draw(st.sampled_from([400, 4301, 20000])), text, count=1
        )
    elif how == "wrap_deep":
        depth = draw(st.integers(60, 3000))
        text = "[" * depth + text + "]" * depth
    raw = text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes bytes that are not UTF-8
    if how == "bom":
        raw = codecs.BOM_UTF8 + raw
    elif how == "bad_bytes":
        at = draw(st.integers(0, len(raw)))
        raw = (
            raw[:at]
            + draw(st.sampled_from([b"\xff", b"\xfe\xff", b"\xc3", b"\x80", b"\xed\xa0\x80", b"\x00"]))
            + raw[at:]
        )
    elif how == "truncate":
        raw = raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    elif how == "utf16":
        raw = text.encode("utf-16", "surrogatepass")
    return how, raw


@pytest.mark.parametrize("kind", ["task_spec", "experiment", "result"])
def test_mutated_documents_give_spec_errors_only(kind: str, catalog, tmp_path: Path) -> None:
    path = tmp_path / f"mutated-{kind}.json"

    # fewer experiments: loading one resolves its model (about 0.5 s for a package-shipped model)
    @fuzz_settings({"task_spec": 150, "experiment": 80, "result": 150}[kind])
    @given(mutated(kind), st.data())
    def check(case: tuple[str, Any], data: Any) -> None:
        _what, doc = case  # what: the seed and mutations, shown by hypothesis on failure
        how, raw = data.draw(encoded(doc))
        path.write_bytes(raw)
        outcome = attempt("mutated", kind, load, kind, path, catalog)
        COUNTS["mutated", kind, f"encoding:{how}:{outcome}"] += 1
        if kind == "experiment":  # the same document as a result's stored experiment (validated in memory)
            attempt("in-memory", kind, load, kind, path, catalog, materialise(doc))

    check()


def test_shipped_seeds_load_unchanged(catalog, tmp_path: Path) -> None:
    """The seeds themselves are valid, so mutations start from documents the loaders accept."""
    for kind, docs in SEEDS.items():
        for name, doc in docs:
            path = tmp_path / name
            path.write_text(json.dumps(doc), encoding="utf-8")
            assert attempt("seed", kind, load, kind, path, catalog) == "accepted", name


def test_fuzz_summary(capsys: pytest.CaptureFixture) -> None:
    """Prints documents tried, clean errors and tracebacks per phase (``-s`` not needed)."""
    phases = sorted({(phase, kind) for phase, kind, _ in COUNTS})
    if not phases:
        pytest.skip("no fuzz test ran in this session")
    lines = ["", "fuzz summary: phase/kind: tried = accepted + clean SpecError + tracebacks"]
    total = Counter()
    for phase, kind in phases:
        row = {outcome: COUNTS[phase, kind, outcome] for outcome in ("accepted", "clean", "traceback")}
        tried = sum(row.values())
        total.update(row)
        lines.append(
            f"  {phase:>9} {kind:<10} {tried:5d} = {row['accepted']:4d} + {row['clean']:4d} + {row['traceback']}"
        )
    encodings = sorted((key[2], n) for key, n in COUNTS.items() if key[2].startswith("encoding:"))
    merged = Counter()
    for key, n in encodings:
        merged[key] += n
    lines.append("  mutated files by encoding: " + ", ".join(f"{k[9:]}={n}" for k, n in sorted(merged.items())))
    lines.append(
        f"  total {sum(total.values())} documents: {total['accepted']} accepted, {total['clean']} clean "
        f"SpecErrors, {total['traceback']} tracebacks"
    )
    with capsys.disabled():
        print("\n".join(lines))
    assert not TRACEBACKS, "\n".join(TRACEBACKS[:3])
    assert math.fsum(total.values()) > 0
