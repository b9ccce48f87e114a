"""Task specs: shipped specs validate; bad specs name file, JSON pointer, value and expectation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import SpecError, UnknownNameError
from tests.helpers import pair_spec, write_json

GOOD = pair_spec()


def issues_of(catalog, tmp_path: Path, data: dict) -> list:
    path = write_json(tmp_path / "spec.json", data)
    with pytest.raises(SpecError) as info:
        catalog.load_spec(path)
    for issue in info.value.issues:
        assert issue.file == str(path)
    return info.value.issues


def test_shipped_specs_all_validate(catalog) -> None:
    assert {"mnli", "xnli", "tatoeba"} <= set(catalog.tasks)
    assert not catalog.invalid_specs
    assert len(catalog.task("xnli").eval_languages) == 15
    assert len(catalog.task("tatoeba").eval_languages) == 36


def test_good_spec_loads(catalog, tmp_path: Path) -> None:
    spec = catalog.load_spec(write_json(tmp_path / "spec.json", GOOD))
    assert spec.name == "my-task" and spec.main_metric == "accuracy"
    assert spec.aggregation == {"languages": "all", "mean": "macro"}


def test_unknown_key_gets_pointer_and_near_name_hint(catalog, tmp_path: Path) -> None:
    bad = {**GOOD, "langauges": GOOD["languages"]}
    del bad["languages"]
    issues = issues_of(catalog, tmp_path, bad)
    unknown = [i for i in issues if i.pointer == "/langauges"]
    assert unknown and "did you mean 'languages'?" in unknown[0].expected
    assert any("required key 'languages'" in i.expected for i in issues)


def test_wrong_type_and_enum_name_the_pointer_and_value(catalog, tmp_path: Path) -> None:
    bad = json.loads(json.dumps(GOOD))
    bad["role"] = "intermediat"
    bad["languages"]["eval"] = "de"
    issues = {i.pointer: i for i in issues_of(catalog, tmp_path, bad)}
    assert "'intermediat'" in issues["/role"].value and '"intermediate"' in issues["/role"].expected
    assert "type array" in issues["/languages/eval"].expected


def test_nested_unknown_key_in_source(catalog, tmp_path: Path) -> None:
    bad = json.loads(json.dumps(GOOD))
    bad["sources"]["local"]["fromat"] = "tsv"
    issues = issues_of(catalog, tmp_path, bad)
    assert any(i.pointer == "/sources/local/fromat" and "'format'" in i.expected for i in issues)


def test_semantic_errors_unknown_task_type_metric_and_format(catalog, tmp_path: Path) -> None:
    bad = json.loads(json.dumps(GOOD))
    bad["task_type"] = "pair_clasification"
    issues = issues_of(catalog, tmp_path, bad)
    assert issues[0].pointer == "/task_type" and "did you mean 'pair_classification'" in issues[0].expected
    bad = json.loads(json.dumps(GOOD))
    bad["metrics"] = ["acuracy"]
    bad["sources"]["local"]["format"] = "tvs"
    pointers = {i.pointer: i.expected for i in issues_of(catalog, tmp_path, bad)}
    assert "did you mean 'accuracy'" in pointers["/metrics/0"]
    assert "did you mean 'tsv'" in pointers["/sources/local/format"]


def test_trained_task_needs_train_split_and_labels(catalog, tmp_path: Path) -> None:
    bad = json.loads(json.dumps(GOOD))
    del bad["labels"]
    bad["sources"]["local"]["files"] = {"eval": "x-{lang}.tsv"}
    pointers = {i.pointer for i in issues_of(catalog, tmp_path, bad)}
    assert {"/labels", "/sources/local/files"} <= pointers


def test_task_options_validated_by_task_type_schema(catalog, tmp_path: Path) -> None:
    spec = json.loads((Path(catalog.task("tatoeba").path)).read_text())
    spec["task_options"]["pooling"] = "max"
    issues = issues_of(catalog, tmp_path, spec)
    assert issues[0].pointer == "/task_options/pooling"


def test_invalid_json_names_line_and_column(catalog, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"name": "x",\n  "version": }\n')
    with pytest.raises(SpecError) as info:
        catalog.load_spec(path)
    assert "line 2" in str(info.value) and str(path) in str(info.value)


def test_unknown_task_suggests_near_names(catalog) -> None:
    with pytest.raises(UnknownNameError) as info:
        catalog.task("xnl")
    assert "xnli" in info.value.suggestions
    assert "did you mean 'xnli'" in str(info.value)


def test_cli_validate_reports_every_issue_and_fails(tmp_path: Path) -> None:
    bad = {**GOOD, "role": "sideways", "extra_field": 1}
    path = write_json(tmp_path / "bad.json", bad)
    good = write_json(tmp_path / "good.json", GOOD)
    result = CliRunner().invoke(app, ["tasks", "validate", str(good), str(path)])
    assert result.exit_code == 1
    assert f"{good}: task 'my-task' is valid" in result.output
    assert "/role" in result.output and "/extra_field" in result.output and "sideways" in result.output


def test_cli_unknown_task_exits_2_with_suggestion() -> None:
    import sys

    from harness.cli import main

    argv = sys.argv
    sys.argv = ["stilts", "tasks", "show", "tatoba"]
    try:
        with pytest.raises(SystemExit) as info:
            main()
    finally:
        sys.argv = argv
    assert info.value.code == 2


def test_cli_schema_prints_the_shipped_schema() -> None:
    result = CliRunner().invoke(app, ["tasks", "schema", "task_spec"])
    schema = json.loads(result.output)
    assert schema["$schema"].endswith("2020-12/schema") and "sources" in schema["properties"]
