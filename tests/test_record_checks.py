"""Data errors are found before training, naming the file and the record or line: every record of
every local split a run reads is checked against its task type's field kinds (a number where a
sentence belongs, an unknown tag, tags that do not match the tokens, malformed answers, a NUL
byte), a JSONL line naming a key twice is refused, and a malformed file is reported as malformed,
never as "not available offline"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import DataError, MalformedDataError
from harness.record_checks import record_problem, records_problem
from plugins.formats.files import JsonLines
from tests.helpers import catalog_with_specs, make_pipeline, pair_spec, write_json

PAIR = {"text_a": "text", "text_b": "text"}
TAGGING = {"tokens": "texts", "tags": "tags"}
QA = {"question": "text", "context": "text", "answers": "answers"}


def test_each_field_kind_names_what_is_wrong() -> None:
    assert record_problem(PAIR, ["no", "yes"], {"text_a": "a", "text_b": "b", "label": 1}) is None
    assert "field 'text_b' is 5; expected a string" in str(record_problem(PAIR, None, {"text_a": "a", "text_b": 5}))
    tags = ["NOUN", "VERB"]
    assert record_problem(TAGGING, tags, {"tokens": ["a", "b"], "tags": ["NOUN", 1]}) is None
    assert "found 'ADJ'" in str(record_problem(TAGGING, tags, {"tokens": ["a", "b"], "tags": ["NOUN", "ADJ"]}))
    assert "2 tokens, 1 tags" in str(record_problem(TAGGING, tags, {"tokens": ["a", "b"], "tags": ["NOUN"]}))
    assert record_problem(TAGGING, None, {"tokens": ["a"], "tags": ["ANY"]}) is None  # labels from train
    good = {"question": "q", "context": "c", "answers": {"text": ["c"], "answer_start": [0]}}
    assert record_problem(QA, None, good) is None
    bad = {**good, "answers": {"text": ["c"], "answer_start": [-1]}}
    assert "expected" in str(record_problem(QA, None, bad))
    assert "contains a NUL byte" in str(record_problem(PAIR, None, {"text_a": "a\x00b", "text_b": "c"}))
    nested = record_problem(QA, None, {**good, "answers": {"text": ["x\x00"], "answer_start": [0]}})
    assert "'answers.text.0' contains a NUL byte" in str(nested)


@given(st.text().filter(lambda t: "\x00" not in t), st.text().filter(lambda t: "\x00" not in t))
def test_strings_without_nul_bytes_always_pass(text_a: str, text_b: str) -> None:
    assert record_problem(PAIR, None, {"text_a": text_a, "text_b": text_b}) is None


@given(st.one_of(st.integers(), st.floats(allow_nan=False), st.none(), st.lists(st.text()), st.booleans()))
def test_anything_but_a_string_in_a_text_field_is_refused(value: object) -> None:
    problem = records_problem("t", "split 'eval'", PAIR, None, [{"text_a": "ok", "text_b": "ok"}, {"text_a": value}])
    assert problem is not None and "record 1: field 'text_a'" in problem and "expected a string" in problem


def test_a_jsonl_line_that_names_a_key_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 1, "b": 2, "a": 3}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"x\.jsonl: line 3 has the key 'a' twice"):
        list(JsonLines().read({"path": path}, {}))


def jsonl_spec(folder: Path) -> Path:
    spec = pair_spec(
        "jl",
        sources={
            "local": {
                "format": "jsonl",
                "files": {"train": str(folder / "train.jsonl"), "eval": str(folder / "test-{lang}.jsonl")},
            }
        },
    )
    return write_json(folder / "specs" / "jl.json", spec)


def write_lines(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def one_target_experiment(path: Path, model: Path, task: str) -> Path:
    return write_json(
        path,
        {
            "name": "checks",
            "model": {"id": str(model), "label": "tiny"},
            "intermediate": ["none"],
            "targets": [task],
            "training": {"epochs": 1, "batch_size": 4, "max_length": 16, "precision": "fp32"},
        },
    )


def test_a_bad_record_in_an_eval_file_stops_the_run_before_training(tiny_model_dir: Path, tmp_path: Path) -> None:
    jsonl_spec(tmp_path)
    rows = [{"text_a": f"a {i}", "text_b": f"b {i}", "label": ["no", "yes"][i % 2]} for i in range(8)]
    write_lines(tmp_path / "train.jsonl", rows)
    write_lines(tmp_path / "test-en.jsonl", rows)
    write_lines(tmp_path / "test-de.jsonl", [*rows[:3], {**rows[3], "text_b": 42}, *rows[4:]])
    catalog = catalog_with_specs(tmp_path / "specs")
    experiment = one_target_experiment(tmp_path / "exp.json", tiny_model_dir, "jl")
    with pytest.raises(MalformedDataError) as info:
        make_pipeline(catalog, experiment, tmp_path).prepare()
    message = str(info.value)
    assert "test-de.jsonl" in message and "record 3: field 'text_b' is 42; expected a string" in message
    assert "problem(s) in the data" in message and "prefetch" not in message and "not available" not in message
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("stage.json"))


def test_evaluated_rows_that_a_stage_trains_on_are_refused_before_training(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """One file serves train and eval through slices; without the train slice the two overlap."""
    rows = [{"text_a": f"a {i}", "text_b": f"b {i}", "label": ["no", "yes"][i % 2]} for i in range(20)]
    write_lines(tmp_path / "all.jsonl", rows)
    local = {"format": "jsonl", "files": {"train": str(tmp_path / "all.jsonl"), "eval": str(tmp_path / "all.jsonl")}}
    for slices, refused in (({"train": "0:10", "eval": "10:"}, False), ({"eval": "10:"}, True)):
        spec = pair_spec(
            "one-file", languages={"train": "en", "eval": ["en"]}, sources={"local": {**local, "slices": slices}}
        )
        write_json(tmp_path / "specs" / "one-file.json", spec)
        catalog = catalog_with_specs(tmp_path / "specs")
        experiment = one_target_experiment(tmp_path / "exp.json", tiny_model_dir, "one-file")
        pipeline = make_pipeline(catalog, experiment, tmp_path)
        if not refused:
            pipeline.prepare()
            continue
        with pytest.raises(MalformedDataError) as info:
            pipeline.prepare()
        assert "evaluates rows 10: of" in str(info.value) and "trains on rows 0: of it" in str(info.value)


def test_a_folder_a_fifo_or_a_device_given_as_a_data_file_is_named_as_such(catalog, tmp_path: Path) -> None:
    import os

    from harness.data import DataResolver

    (tmp_path / "train.tsv").mkdir()
    os.mkfifo(tmp_path / "test-en.tsv")
    spec = catalog.load_spec(
        write_json(
            tmp_path / "s.json",
            pair_spec(
                "odd-files",
                files={
                    "train": str(tmp_path / "train.tsv"),
                    "eval": str(tmp_path / "test-{lang}.tsv"),
                    "dev": "/dev/zero",
                },
            ),
        )
    )
    resolver = DataResolver(catalog, tmp_path)
    assert "train.tsv is a folder, not a regular file" in str(resolver.missing(spec, "train", "en"))
    assert "test-en.tsv is a FIFO, not a regular file" in str(resolver.missing(spec, "eval", "en"))
    assert "/dev/zero is a character device, not a regular file" in str(resolver.missing(spec, "dev", "en"))


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"labels": ["no", " "]}, "/labels/1"),
        ({"labels": ["no", "ye\ts"]}, "/labels/1"),
        ({"fields": {"text_a": "  "}}, "/fields/text_a"),
        ({"fields": {"text_a": "col\u0007"}}, "/fields/text_a"),
        ({"fields": {"choices": ["a", ""]}}, "/fields/choices/1"),
    ],
)
def test_blank_or_control_character_labels_and_field_keys_are_refused(change: dict, pointer: str) -> None:
    from harness.errors import SpecError
    from harness.specs import validate_data

    with pytest.raises(SpecError) as info:
        validate_data(pair_spec(**change), "task_spec", "spec.json")
    assert f"at {pointer}" in str(info.value)
