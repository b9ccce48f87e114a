"""Bad JSON and data input: every case is a SpecError/DataError naming the file, never a traceback.

Each test here failed before the hardening it covers (UnicodeDecodeError, RecursionError,
silently accepted duplicate keys/NaN/path-like names, unchecked experiment source overrides,
KeyError/TypeError deep in data loading, a BOM kept in the first field).
"""

from __future__ import annotations

import codecs
import json
import math
import os
import sys
import threading
from pathlib import Path

import pytest

import harness.specs
from harness.atomic import write_json_atomic
from harness.data import DataResolver
from harness.errors import DataError, SpecError
from harness.experiment import load_experiment
from harness.specs import MAX_JSON_DEPTH, load_validated, read_json, validate_data
from harness.tasks import content_hash
from plugins.formats.bucc import BuccCorpus
from plugins.formats.conll import ConllTags, Conllu
from plugins.formats.files import AlignedLines, Csv, JsonLines, TextLines, Tsv
from plugins.formats.hellaswag import HellaswagText
from plugins.formats.squad import SquadJson
from tests.helpers import pair_spec, write_json

REPO = Path(__file__).resolve().parents[1]

SPEC = pair_spec()

EXPERIMENT = {
    "name": "exp",
    "model": {"id": "some/model", "label": "Some model"},
    "intermediate": ["none", "mnli"],
    "targets": ["xnli"],
    "seeds": [1],
}

XNLI_OVERRIDE = {
    "local": {
        "format": "tsv",
        "options": {"columns": ["premise", "hypothesis", "label"]},
        "files": {"train": "x.tsv", "dev": "x.tsv", "eval": "x-{lang}.tsv"},
    }
}


def copy_of(data: dict) -> dict:
    return json.loads(json.dumps(data))


def spec_issues(catalog, path: Path) -> list:
    with pytest.raises(SpecError) as info:
        catalog.load_spec(path)
    assert all(issue.file == str(path) for issue in info.value.issues), info.value
    return info.value.issues


def experiment_issues(catalog, path: Path) -> list:
    with pytest.raises(SpecError) as info:
        load_experiment(path, catalog)
    assert all(issue.file == str(path) for issue in info.value.issues), info.value
    return info.value.issues


def spec_error(fn, *args) -> SpecError:
    with pytest.raises(SpecError) as info:
        fn(*args)
    return info.value


def only_issue(error: SpecError):
    assert len(error.issues) == 1, error
    return error.issues[0]


# -- read_json ---------------------------------------------------------------------------------
def test_non_utf8_bytes_name_file_offset_and_line(catalog, tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{\n  "name": "caf\xe9"\n}\n')
    issue = only_issue(spec_error(catalog.load_spec, path))
    assert issue.file == str(path)
    assert "0xe9 at offset 16 (line 2 column 15)" in issue.value and "UTF-8" in issue.expected


def test_utf16_file_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "utf16.json"
    path.write_bytes(json.dumps(SPEC).encode("utf-16"))
    issue = only_issue(spec_error(read_json, path))
    assert "UTF-16" in issue.expected


def test_utf8_bom_is_accepted_and_dropped(catalog, tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(codecs.BOM_UTF8 + json.dumps(SPEC).encode("utf-8"))
    assert catalog.load_spec(path).name == "my-task"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 100_000])
def test_deep_nesting_is_refused_with_its_line(catalog, tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.json"
    nested = "[" * depth + "]" * depth
    path.write_text('{"name": "x",\n "task_options": {"a": ' + nested + "}}")
    issue = only_issue(spec_error(catalog.load_spec, path))
    assert issue.file == str(path) and f"more than {MAX_JSON_DEPTH} levels deep at line 2" in issue.value


def test_deep_nesting_in_memory_is_refused_by_validation() -> None:
    value: list = []
    for _ in range(2000):
        value = [value]
    data = {**copy_of(SPEC), "task_options": {"a": value}}
    issue = only_issue(spec_error(validate_data, data, "task_spec", "mem"))
    assert issue.pointer.startswith("/task_options/a/0/0") and "levels deep" in issue.value


def test_duplicate_keys_are_refused_naming_key_pointer_and_line(catalog, tmp_path: Path) -> None:
    path = tmp_path / "dup.json"
    text = json.dumps(SPEC, indent=2).replace('"format": "tsv",', '"format": "tsv",\n      "format": "jsonl",')
    path.write_text(text)
    line = text.split("\n").index('      "format": "jsonl",') + 1
    issue = only_issue(spec_error(catalog.load_spec, path))
    assert issue.pointer == "/sources/local/format"
    assert (
        issue.value == f"the key 'format' again (the key appears on lines {line - 1}, {line})"
        and "once" in issue.expected
    )


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1E400"])
def test_non_finite_number_literals_are_refused(tmp_path: Path, literal: str) -> None:
    path = tmp_path / "nan.json"
    path.write_text('{"name": "NaN",\n "recipe": {"epochs": ' + literal + "}}")
    issue = only_issue(spec_error(read_json, path))
    assert literal in issue.value and "line 2" in issue.value and "finite" in issue.expected


def test_integer_literal_too_long_for_python_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "long.json"
    path.write_text('{"seeds": [' + "9" * 5000 + "]}")
    issue = only_issue(spec_error(read_json, path))
    assert "line 1" in issue.value


def test_lone_surrogate_escape_is_refused_with_pointer(catalog, tmp_path: Path) -> None:
    path = tmp_path / "surrogate.json"
    path.write_text(json.dumps({**SPEC, "description": "bad \ud800 text"}))  # json writes the escape \ud800
    issues = spec_issues(catalog, path)
    assert [i.pointer for i in issues] == ["/description"] and "surrogate" in issues[0].value
    str(issues[0])  # printable


def run_with_timeout(fn, *args, timeout: float = 10.0):
    """fn(*args) in a thread; fails the test (instead of hanging it) if it does not return in time."""
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # handed to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"{fn.__name__}{args} did not return within {timeout}s"
    return box


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_refused_without_blocking(catalog, tmp_path: Path) -> None:
    fifo = tmp_path / "spec.json"
    os.mkfifo(fifo)
    box = run_with_timeout(catalog.load_spec, fifo)
    assert isinstance(box.get("error"), SpecError), box
    assert "named pipe" in str(box["error"]) and str(fifo) in str(box["error"])


@pytest.mark.parametrize("path", ["/dev/zero", "DIR"])
def test_devices_and_directories_are_refused_without_reading(tmp_path: Path, path: str) -> None:
    target = tmp_path if path == "DIR" else Path(path)
    if not target.exists():
        pytest.skip(f"{path} is absent")
    box = run_with_timeout(load_validated, target, "experiment")
    assert isinstance(box.get("error"), SpecError), box
    assert ("directory" if path == "DIR" else "character device") in str(box["error"])


def test_oversized_file_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.json"
    with open(path, "wb") as handle:  # sparse: 60 MB that take no disk space
        handle.truncate(60 * 1024 * 1024)
    issue = only_issue(spec_error(read_json, path))
    assert "62914560 bytes" in issue.value and str(harness.specs.MAX_JSON_BYTES) in issue.expected
    monkeypatch.setattr(harness.specs, "MAX_JSON_BYTES", 100)
    path.write_text(json.dumps(SPEC))
    assert "at most 100 bytes" in only_issue(spec_error(read_json, path)).expected


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    issue = only_issue(spec_error(read_json, path))
    assert issue.file == str(path) and "No such file" in issue.expected


# -- writing and results -----------------------------------------------------------------------
def test_write_json_atomic_writes_standard_json_only(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    with pytest.raises(ValueError):
        write_json_atomic(path, {"score": math.nan})
    assert not path.exists() and not list(tmp_path.iterdir())
    write_json_atomic(path, {"score": 1.5})
    assert read_json(path) == {"score": 1.5}


def valid_result() -> dict:
    return {
        "schema_version": 1,
        "experiment": "exp",
        "cell": {
            "id": "tiny__full__none__xnli__seed1",
            "model": "tiny",
            "method": "full",
            "intermediate": "none",
            "target": "xnli",
            "seed": 1,
            "selection": "english_dev",
            "zero_shot": True,
        },
        "task": {
            "name": "xnli",
            "version": "1",
            "task_type": "pair_classification",
            "main_metric": "accuracy",
            "train_language": "en",
            "aggregation": {"languages": "all", "mean": "macro"},
        },
        "languages": {"en": {"n": 10, "accuracy": 50.0}, "de": {"n": 10, "accuracy": 40.0}},
        "aggregate": {
            "metric": "accuracy",
            "mean": 45.0,
            "languages": ["de", "en"],
            "english": 50.0,
            "mean_without_english": 40.0,
        },
        "config": {},
        "config_hash": content_hash({}, length=20),
        "stages": [],
        "data": [],
        "runtime": {"device": "cpu", "precision": "fp32", "versions": {}},
        "wall_time_s": 1.0,
        "created_at": "2025-01-01T00:00:00+0000",
    }


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_score_in_a_result_is_a_spec_error_naming_the_pointer(bad: float) -> None:
    validate_data(valid_result(), "result", "r.json")
    result = valid_result()
    result["languages"]["de"]["accuracy"] = bad
    result["aggregate"]["mean"] = bad
    issues = spec_error(validate_data, result, "result", "r.json").issues
    assert {i.pointer for i in issues} == {"/languages/de/accuracy", "/aggregate/mean"}
    assert all("finite" in i.expected for i in issues)


def test_result_names_and_seed_are_bounded() -> None:
    result = valid_result()
    result["experiment"] = "../../etc"
    result["cell"]["id"] = "a/b"
    result["cell"]["seed"] = 2**32
    result["languages"]["../x"] = {"n": 1}
    pointers = {i.pointer for i in spec_error(validate_data, result, "result", "r.json").issues}
    assert {"/experiment", "/cell/id", "/cell/seed", "/languages/..~1x"} <= pointers


# -- schema bounds -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "lang", ["", " ", "../x", "en/..", "en\x00", "en\n", "EN", "e", "english", "en-", "e\u0301n", "x" * 40]
)
def test_language_codes_are_bounded(catalog, tmp_path: Path, lang: str) -> None:
    spec = copy_of(SPEC)
    spec["languages"]["eval"] = ["en", lang]
    issues = spec_issues(catalog, write_json(tmp_path / "spec.json", spec))
    assert [i.pointer for i in issues] == ["/languages/eval/1"]
    assert "language code" in issues[0].expected


@pytest.mark.parametrize("lang", ["en", "zh", "yue", "zh-Hans", "pt_BR", "sr-Latn-RS"])
def test_real_language_codes_pass(catalog, tmp_path: Path, lang: str) -> None:
    spec = copy_of(SPEC)
    spec["languages"]["eval"] = [lang]
    spec["sources"]["local"]["lang_codes"] = {lang: "Code_1.x"}
    assert catalog.load_spec(write_json(tmp_path / "spec.json", spec)).eval_languages == [lang]


@pytest.mark.parametrize(
    ("pointer", "value"),
    [
        ("/name", "my-task\n"),
        ("/languages/train", "en\n"),
        ("/version", "1\n"),
        ("/sources/local/slices/train", "0:10\n"),
        ("/sources/local/lang_codes/de", "deu\n"),
        ("/sources/local/files/train", "train.tsv\n"),
    ],
)
def test_a_trailing_newline_never_passes_a_pattern(catalog, tmp_path: Path, pointer: str, value: str) -> None:
    spec = copy_of(SPEC)
    *parents, last = pointer.strip("/").split("/")
    node = spec
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    issues = spec_issues(catalog, write_json(tmp_path / "spec.json", spec))
    assert [i.pointer for i in issues] == [pointer]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("name", "a" * 65),
        ("name", "../evil"),
        ("name", "a/b"),
        ("name", "Upper"),
        ("name", ""),
        ("task_type", "x" * 65),
        ("version", "v" * 65),
        ("metrics", ["accuracy", "a b"]),
    ],
)
def test_task_spec_names_are_bounded(catalog, tmp_path: Path, key: str, value: object) -> None:
    spec = {**copy_of(SPEC), key: value}
    issues = spec_issues(catalog, write_json(tmp_path / "spec.json", spec))
    assert issues and all(i.pointer.startswith(f"/{key}") for i in issues), issues


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("name",), "../results"),
        (("name",), "x" * 65),
        (("name",), "exp\n"),
        (("model", "label"), "a/b"),
        (("model", "label"), "L" * 65),
        (("model", "label"), "trailing "),
        (("model", "id"), "bad\x00id"),
        (("model", "package"), "os; rm -rf"),
        (("data_dir",), ""),
        (("intermediate", 1), "../mnli"),
        (("targets", 0), "XNLI"),
        (("intermediate", 1), {"name": "g" * 65, "tasks": ["mnli"]}),
        (("intermediate", 1), {"name": "a/b", "tasks": ["mnli"]}),
        (("seeds", 0), 2**32),
        (("seeds", 0), -1),
        (("seeds", 0), 1.0),
        (("seeds", 0), True),
        (("training",), {"warmup_ratio": 1.5}),
        (("training",), {"learning_rate": 0}),
        (("training",), {"epochs": 10**6}),
        (("training",), {"batch_size": 2**40}),
        (("training",), {"method": {"kind": "lora", "r": 10**9}}),
    ],
)
def test_experiment_fields_are_bounded(catalog, tmp_path: Path, path: tuple, value: object) -> None:
    data = copy_of(EXPERIMENT)
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    issues = experiment_issues(catalog, write_json(tmp_path / "exp.json", data))
    prefix = "/" + "/".join(str(p) for p in path)
    assert issues and all(i.pointer.startswith(prefix) for i in issues), issues


def test_seed_bounds_are_inclusive(catalog, tmp_path: Path) -> None:
    data = {**copy_of(EXPERIMENT), "seeds": [0, 2**32 - 1]}
    assert load_experiment(write_json(tmp_path / "exp.json", data), catalog).seeds == [0, 2**32 - 1]


def test_shipped_specs_and_experiments_still_validate(catalog) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    result = CliRunner().invoke(
        app, ["tasks", "validate", str(REPO / "task_specs"), str(REPO / "plugins/quickstart/tasks")]
    )
    assert result.exit_code == 0, result.output
    for path in [*sorted((REPO / "examples").glob("*.json")), REPO / "plugins/quickstart/quickstart.json"]:
        load_experiment(path, catalog)


# -- experiment source overrides ---------------------------------------------------------------
def override_issues(catalog, tmp_path: Path, override: dict, task: str = "xnli") -> dict:
    data = {**copy_of(EXPERIMENT), "sources": {task: override}}
    return {i.pointer: i for i in experiment_issues(catalog, write_json(tmp_path / "exp.json", data))}


def test_valid_override_loads(catalog, tmp_path: Path) -> None:
    data = {**copy_of(EXPERIMENT), "sources": {"xnli": XNLI_OVERRIDE}}
    exp = load_experiment(write_json(tmp_path / "exp.json", data), catalog)
    assert exp.task(catalog, "xnli").sources["local"]["format"] == "tsv"


def test_override_key_typo_gets_a_near_name(catalog, tmp_path: Path) -> None:
    override = copy_of(XNLI_OVERRIDE)
    override["local"]["fromat"] = override["local"].pop("format")
    issues = override_issues(catalog, tmp_path, override)
    assert "did you mean 'format'" in issues["/sources/xnli/local/fromat"].expected
    assert "required key 'format'" in issues["/sources/xnli/local"].expected


def test_override_unknown_format_is_reported_as_such(catalog, tmp_path: Path) -> None:
    override = copy_of(XNLI_OVERRIDE)
    override["local"]["format"] = "tvs"
    issues = override_issues(catalog, tmp_path, override)
    assert list(issues) == ["/sources/xnli/local/format"]
    assert "registered data format; did you mean 'tsv'" in issues["/sources/xnli/local/format"].expected


@pytest.mark.parametrize(
    ("fmt", "options", "pointer", "expected"),
    [
        ("tsv", {"colums": ["a", "b"]}, "/options/colums", "did you mean 'columns'"),
        ("tsv", {"columns": "premise"}, "/options/columns", "type array"),
        ("tsv", {"header": "yes"}, "/options/header", "type boolean"),
        ("tsv", {}, "/options", "options.columns"),
        ("csv", {"delimiter": ";;"}, "/options/delimiter", "at most 1"),
        ("conll_tags", {"token_column": "0"}, "/options/token_column", "type integer"),
        ("conll_tags", {"tag_column": -1}, "/options/tag_column", ">= 0"),
        ("conllu", {"tag_field": "lemma"}, "/options/tag_field", '"upos"'),
        ("jsonl", {"columns": ["a"]}, "/options/columns", "no keys"),
    ],
)
def test_override_options_validated_by_the_format_schema(
    catalog, tmp_path: Path, fmt: str, options: dict, pointer: str, expected: str
) -> None:
    override = copy_of(XNLI_OVERRIDE)
    override["local"].update(format=fmt, options=options)
    issues = override_issues(catalog, tmp_path, override)
    assert all(p.startswith("/sources/xnli/local/options") for p in issues), issues
    assert expected in issues["/sources/xnli/local" + pointer].expected


def test_override_shapes_use_the_spec_schema(catalog, tmp_path: Path) -> None:
    issues = override_issues(
        catalog,
        tmp_path,
        {"local": {"format": "tsv", "files": {"training": "x.tsv"}}, "hub": {"dataset": "x"}, "web": {}},
    )
    assert {"/sources/xnli/local/files/training", "/sources/xnli/hub", "/sources/xnli/web"} <= set(issues)


def test_override_for_an_unknown_task_is_reported(catalog, tmp_path: Path) -> None:
    issues = override_issues(catalog, tmp_path, XNLI_OVERRIDE, task="xnil")
    assert "did you mean 'xnli'" in issues["/sources/xnil"].expected


def test_spec_options_validated_by_the_format_schema(catalog, tmp_path: Path) -> None:
    spec = copy_of(SPEC)
    spec["sources"]["local"]["options"] = {"colums": ["a", "b", "c"]}
    issues = {i.pointer: i for i in spec_issues(catalog, write_json(tmp_path / "spec.json", spec))}
    assert "did you mean 'columns'" in issues["/sources/local/options/colums"].expected


def test_every_builtin_format_declares_an_options_schema(catalog) -> None:
    for name in catalog.format_entries:
        schema = catalog.data_format(name).options_schema
        assert schema is not None and schema.get("additionalProperties") is False, name


# -- the CLI prints these cleanly --------------------------------------------------------------
def run_main(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    from harness.cli import main

    saved = sys.argv
    sys.argv = ["stilts", *argv]
    try:
        with pytest.raises(SystemExit) as info:
            main()
    finally:
        sys.argv = saved
    out = capsys.readouterr()
    return info.value.code, out.out + out.err


def test_cli_prints_bad_experiment_files_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for name, raw in [
        ("latin1.json", b'{"name": "\xe9"}'),
        ("deep.json", b"[" * 5000 + b"]" * 5000),
        ("nan.json", b'{"name": NaN}'),
        ("dup.json", b'{"name": "a", "name": "b"}'),
    ]:
        path = tmp_path / name
        path.write_bytes(raw)
        code, output = run_main(["run", str(path), "--offline"], capsys)
        assert code == 2 and str(path) in output and "Traceback" not in output, output


def test_cli_validate_reports_a_bad_spec_file_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    (tmp_path / "bad.json").write_bytes(codecs.BOM_UTF8 + b'{"name": "x", "name": "y"}')
    result = CliRunner().invoke(app, ["tasks", "validate", str(tmp_path / "bad.json")])
    assert result.exit_code == 1 and "'name' again" in result.output and result.exception.__class__ is SystemExit


# -- data files --------------------------------------------------------------------------------
def read_all(reader, files: dict, options: dict | None = None) -> list:
    return list(reader.read(files, options or {}))


FORMAT_CASES = {
    "tsv": (Tsv(), {"columns": ["a", "b"]}, "x\ty\n{}\tz\n"),
    "csv": (Csv(), {}, "a,b\nx,y\n{},z\n"),
    "jsonl": (JsonLines(), {}, '{"a": "x"}\n{"a": "{}"}\n'),
    "text_lines": (TextLines(), {}, "x\n{}\n"),
    "conll_tags": (ConllTags(), {}, "x\tN\n{}\tV\n"),
    "conllu": (Conllu(), {}, "1\tx\tx\tN\t_\t_\t0\troot\t_\t_\n2\t{}\tx\tN\t_\t_\t1\tdep\t_\t_\n"),
    "hellaswag_text": (HellaswagText(), {}, "ctx\n1\na\nb\nc\n{}\n"),
    "squad_json": (
        SquadJson(),
        {},
        ('{"data": [{"paragraphs": [{"context": "c", "qas": [\n{"id": "1", "question": "{}", "answers": []}]}]}]}'),
    ),
}


@pytest.mark.parametrize("name", sorted(FORMAT_CASES))
def test_non_utf8_data_is_a_data_error_with_file_and_line(tmp_path: Path, name: str) -> None:
    reader, options, template = FORMAT_CASES[name]
    path = tmp_path / f"data.{name}"
    path.write_bytes(template.replace("{}", "\x00BAD\x00").encode("utf-8").replace(b"\x00BAD\x00", b"caf\xe9"))
    with pytest.raises(DataError) as info:
        read_all(reader, {"path": path}, options)
    message = str(info.value)
    assert str(path) in message and "0xe9" in message and "not UTF-8" in message
    line = {"csv": 3, "hellaswag_text": 6}.get(name, 2)  # csv has a header line; hellaswag's bad ending is line 6
    assert f"line {line} " in message, message


@pytest.mark.parametrize("name", sorted(FORMAT_CASES))
def test_bom_is_dropped_from_data_files(tmp_path: Path, name: str) -> None:
    reader, options, template = FORMAT_CASES[name]
    path = tmp_path / f"data.{name}"
    path.write_text(template.replace("{}", "w"), encoding="utf-8")
    without = read_all(reader, {"path": path}, options)
    path.write_bytes(codecs.BOM_UTF8 + template.replace("{}", "w").encode("utf-8"))
    assert read_all(reader, {"path": path}, options) == without
    assert "\ufeff" not in json.dumps(without, ensure_ascii=False)


def test_bom_in_csv_header_does_not_rename_the_first_column(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"id,label\n1,0\n")
    assert read_all(Csv(), {"path": path}) == [{"id": "1", "label": "0"}]


def test_non_utf8_in_aligned_and_bucc_files(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("a\nb\n", encoding="utf-8")
    bad.write_bytes(b"a\n\xff\n")
    with pytest.raises(DataError, match=r"bad.txt: line 2 \(byte offset 2\): byte 0xff"):
        read_all(AlignedLines(), {"source": good, "target": bad})
    pairs = tmp_path / "pairs"
    pairs.write_bytes(b"id1\tok\nid2\t\xc3(\n")
    with pytest.raises(DataError, match="pairs: line 2"):
        read_all(BuccCorpus(), {"source": pairs, "target": pairs})


@pytest.mark.parametrize(
    ("reader", "text", "match"),
    [
        (JsonLines(), '{"a": 1}\n{"a": \n', "line 2 is not valid JSON"),
        (JsonLines(), '{"a": 1}\n[1, 2]\n', "line 2 is a JSON list, expected an object"),
        (JsonLines(), '{"a": 1}\n' + "[" * 100_000 + "]" * 100_000 + "\n", "line 2 is JSON nested too deeply"),
        (JsonLines(), '{"a": ' + "9" * 5000 + "}\n", "line 1 is not usable JSON"),
        (Tsv(), "a\tb\na\tb\tc\n", "line 2 has 3 column"),
        (Conllu(), "1\tx\n", "line 1 has 2 column"),
        (ConllTags(), "x\n", "line 1 has 1 column"),
        (Csv(), 'a,b\n"x,y\n', "line 2"),
        (SquadJson(), '{"data": {"x": 1}}', "'data' is an object; expected a list"),
        (SquadJson(), '{"data": ["x"]}', r"data\[0\] is a string; expected an object"),
        (
            SquadJson(),
            (
                '{"data": [{"paragraphs": [{"context": "c", "qas": [{"id": 1, "question": "q", '
                '"answers": [{"text": "t"}]}]}]}]}'
            ),
            r"qas\[0\].answers\[0\].answer_start is null",
        ),
        (
            SquadJson(),
            '{"data": [{"paragraphs": [{"context": 5, "qas": [{"id": 1, "question": "q", "answers": []}]}]}]}',
            r"paragraphs\[0\].context is an integer",
        ),
        (SquadJson(), '{"data": [\n}', "not valid JSON at line 2"),
        (SquadJson(), "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_malformed_data_is_a_data_error_naming_the_place(tmp_path: Path, reader, text: str, match: str) -> None:
    path = tmp_path / "data"
    path.write_text(text, encoding="utf-8")
    options = {"columns": ["a", "b"]} if isinstance(reader, Tsv) else {}
    with pytest.raises(DataError, match=match) as info:
        read_all(reader, {"path": path}, options)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "reader", [Tsv(), Csv(), JsonLines(), TextLines(), ConllTags(), Conllu(), HellaswagText(), SquadJson()]
)
def test_single_file_formats_refuse_other_roles(tmp_path: Path, reader) -> None:
    with pytest.raises(DataError, match="reads one file per split"):
        read_all(reader, {"source": tmp_path / "a", "target": tmp_path / "b"}, {"columns": ["a"]})


def test_bucc_needs_source_and_target_roles(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="reads the files source, target"):
        read_all(BuccCorpus(), {"path": tmp_path / "a"})


def test_tsv_skip_malformed_option(tmp_path: Path) -> None:
    path = tmp_path / "x.tsv"
    path.write_text("a\tb\nbroken\nc\td\n", encoding="utf-8")
    assert read_all(Tsv(), {"path": path}, {"columns": ["x", "y"], "skip_malformed": True}) == [
        {"x": "a", "y": "b"},
        {"x": "c", "y": "d"},
    ]


def test_bad_bytes_surface_as_data_error_through_the_resolver(catalog, tmp_path: Path) -> None:
    (tmp_path / "train.tsv").write_bytes(b"a\tb\tyes\n" * 3 + b"a\t\xff\tno\n")
    spec = {**copy_of(SPEC), "languages": {"train": "en", "eval": ["en"]}}
    spec["sources"]["local"]["files"] = {"train": "train.tsv", "eval": "train.tsv"}
    loaded = catalog.load_spec(write_json(tmp_path / "spec.json", spec))
    with pytest.raises(DataError, match=r"train.tsv: line 4 \(byte offset 26\): byte 0xff"):
        DataResolver(catalog).load(loaded, "train", "en")
