"""A local source's file roles and field mapping are checked when the spec (or an experiment's
source override) is loaded, before anything is read or trained (issue 22, part 5)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from harness.errors import SpecError
from tests.helpers import pair_spec, write_json

REPO = Path(__file__).resolve().parents[1]


def issues_of(catalog, path: Path, data: dict) -> dict[str, str]:
    write_json(path, data)
    with pytest.raises(SpecError) as info:
        catalog.load_spec(path)
    return {issue.pointer: f"{issue.value} | {issue.expected}" for issue in info.value.issues}


def shipped(name: str) -> dict:
    return json.loads((REPO / "task_specs" / f"{name}.json").read_text(encoding="utf-8"))


def test_a_misspelt_role_of_a_multi_file_format_is_refused_with_the_roles_it_reads(catalog, tmp_path: Path) -> None:
    spec = shipped("bucc")
    spec["sources"]["local"]["files"]["eval"]["targt"] = spec["sources"]["local"]["files"]["eval"].pop("target")
    found = issues_of(catalog, tmp_path / "bucc.json", spec)
    message = found["/sources/local/files/eval"]
    assert "['gold', 'source', 'targt']" in message
    assert "source, target; optionally gold" in message and "missing target; unknown targt" in message


def test_a_plain_path_for_a_format_that_reads_files_by_role_is_refused(catalog, tmp_path: Path) -> None:
    spec = shipped("bucc")
    spec["sources"]["local"]["files"]["eval"] = "{data_dir}/bucc2018/{lang}-en.test.{lang}"
    found = issues_of(catalog, tmp_path / "bucc.json", spec)
    assert "files by role" in found["/sources/local/files/eval"]


def test_roles_given_to_a_one_file_format_are_refused(catalog, tmp_path: Path) -> None:
    spec = pair_spec(files={"train": "train.tsv", "eval": {"premise": "a.tsv", "hypothesis": "b.tsv"}})
    found = issues_of(catalog, tmp_path / "pair.json", spec)
    assert "reads one file per split" in found["/sources/local/files/eval"]
    assert "['hypothesis', 'premise']" in found["/sources/local/files/eval"]


def test_aligned_lines_need_two_roles_which_must_be_the_fields_the_task_reads(catalog, tmp_path: Path) -> None:
    spec = shipped("tatoeba")
    eval_files = spec["sources"]["local"]["files"]["eval"]
    one_role = copy.deepcopy(spec)
    one_role["sources"]["local"]["files"]["eval"] = {"source": eval_files["source"]}
    assert "at least 2 needed" in issues_of(catalog, tmp_path / "one.json", one_role)["/sources/local/files/eval"]

    renamed = copy.deepcopy(spec)
    renamed["sources"]["local"]["files"]["eval"] = {"src": eval_files["source"], "target": eval_files["target"]}
    message = issues_of(catalog, tmp_path / "renamed.json", renamed)["/sources/local/fields/source"]
    assert "(src, target)" in message and "reads field 'source' from 'source'" in message
    renamed["sources"]["local"]["fields"] = {"source": "src"}  # mapping the role back is accepted
    assert catalog.load_spec(write_json(tmp_path / "mapped.json", renamed)).name == "tatoeba"


def test_a_field_mapping_naming_a_column_the_tsv_does_not_have_is_refused(catalog, tmp_path: Path) -> None:
    spec = pair_spec(fields={"text_b": "hypothesis"})
    found = issues_of(catalog, tmp_path / "pair.json", spec)
    message = found["/sources/local/fields/text_b"]
    assert "'hypothesis'" in message and "(label, text_a, text_b)" in message and "the spec's fields" in message


def test_dotted_field_keys_are_checked_by_their_first_part(catalog, tmp_path: Path) -> None:
    spec = shipped("xquad")  # squad_json records: answers is an object; answers.text reads into it
    spec["sources"]["local"]["fields"] = {"answers": "answers.text"}
    catalog.load_spec(write_json(tmp_path / "xquad.json", spec))
    spec["sources"]["local"]["fields"] = {"answers": "answer.text"}
    assert "'answer.text'" in issues_of(catalog, tmp_path / "xquad.json", spec)["/sources/local/fields/answers"]


def test_an_experiment_column_rename_that_breaks_the_spec_field_mapping_is_refused(
    catalog, tmp_path: Path, tiny_experiment: Path
) -> None:
    """The override renames XNLI's columns; the spec's fields still read ``hypothesis``: refused
    when the experiment is loaded, at the override's pointer, not after training."""
    from harness.experiment import load_experiment

    experiment = json.loads(tiny_experiment.read_text())
    xnli_local = shipped("xnli")["sources"]["local"]
    override = copy.deepcopy(xnli_local)
    override["options"] = {"columns": ["premise", "hyp", "label"]}
    experiment["sources"] = {"xnli": {"local": override}}
    path = write_json(tmp_path / "renamed.json", experiment)
    with pytest.raises(SpecError) as info:
        load_experiment(path, catalog)
    (issue,) = info.value.issues
    assert issue.file == str(path) and issue.pointer == "/sources/xnli/local/fields/text_b"
    assert "(hyp, label, premise)" in issue.expected and "'hypothesis'" in issue.value
    override["fields"] = {"text_b": "hyp"}
    load_experiment(write_json(tmp_path / "mapped.json", experiment), catalog)


def test_every_shipped_spec_and_example_passes_the_source_checks(catalog) -> None:
    from harness.experiment import load_experiment

    assert not catalog.invalid_specs
    for name in catalog.tasks:
        catalog.task(name)
    for example in sorted((REPO / "examples").glob("*.json")):
        load_experiment(example, catalog)
