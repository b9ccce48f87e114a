"""Card facts: the shipped, verified facts cover every hub source of every spec; cards are parsed
with ``datasets``' own parsers; requests that the card contradicts are refused with the closest
valid names; ClassLabel names (not positions) decide labels; lock files are validated data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.data import DataResolver
from harness.errors import SpecError
from harness.hub import HubAccess
from harness.hub_cards import CardFacts, ConfigFacts, Request, check_request, facts_from_card, shipped_facts
from harness.lockfile import LockFile
from tests.helpers import pair_spec, write_json
from tests.hub_repos import write_dataset_repo

CARD = """---
configs:
- config_name: udpos.Afrikaans
  data_files:
  - split: train
    path: udpos.Afrikaans/train-*
  - split: test
    path: udpos.Afrikaans/test-*
dataset_info:
- config_name: udpos.Afrikaans
  features:
  - name: tokens
    sequence: string
  - name: pos_tags
    sequence:
      class_label:
        names:
          '0': ADJ
          '1': NOUN
  splits:
  - name: train
    num_examples: 1315
  - name: test
    num_examples: 425
---
# XTREME
"""


def facts(**configs: ConfigFacts) -> CardFacts:
    return CardFacts("google/xtreme", dict(configs), origin="test facts")


def test_cards_are_parsed_by_the_datasets_librarys_own_card_parsers() -> None:
    found = facts_from_card("google/xtreme", CARD, ["README.md", "udpos.Afrikaans/train-0.parquet"], "test")
    config = found.configs["udpos.Afrikaans"]
    assert config.splits == {"train": 1315, "test": 425}
    assert [f["name"] for f in config.features or []] == ["tokens", "pos_tags"]
    assert found.loadable
    scripted = facts_from_card("allenai/social_i_qa", "---\n---\n", ["social_i_qa.py", "README.md"], "test")
    assert not scripted.loadable
    assert "loading script" in check_request(Request("allenai/social_i_qa", None, "train"), scripted)[0]


def test_a_wrong_config_split_or_column_is_named_with_the_closest_valid_names() -> None:
    known = facts_from_card("google/xtreme", CARD, None, "its card")
    (problem,) = check_request(Request("google/xtreme", "udpos.Afrikans", "train"), known)
    assert "no config 'udpos.Afrikans'" in problem and "closest: udpos.Afrikaans" in problem
    (problem,) = check_request(Request("google/xtreme", "udpos.Afrikaans", "validation"), known)
    assert "no split 'validation'" in problem and "its splits: train, test" in problem
    (problem,) = check_request(Request("google/xtreme", "udpos.Afrikaans", "train", columns=("upos",)), known)
    assert "no column 'upos'" in problem and "tokens, pos_tags" in problem
    assert check_request(Request("google/xtreme", "udpos.Afrikaans", "train+test[:50%]", ("tokens",)), known) == []


def test_class_label_names_must_be_the_specs_labels() -> None:
    known = facts_from_card("google/xtreme", CARD, None, "its card")
    ok = Request("google/xtreme", "udpos.Afrikaans", "train", ("pos_tags",), (("pos_tags", ("NOUN", "ADJ")),))
    assert check_request(ok, known) == []  # order does not matter: labels are matched by name
    bad = Request("google/xtreme", "udpos.Afrikaans", "train", ("pos_tags",), (("pos_tags", ("ADJ", "NOUN", "X")),))
    (problem,) = check_request(bad, known)
    assert "not in the data: ['X']" in problem


def test_every_hub_source_of_every_spec_is_confirmed_by_its_verified_card(catalog) -> None:
    """Every (dataset, config, split, column, label) any built-in spec asks of the hub, in every
    language it lists, is one the dataset's card lists (the facts shipped in task_specs/hub_cards,
    each with the URL it was read from)."""
    resolver = DataResolver(catalog, Path("/nonexistent"), HubAccess(lock=None, offline=True))
    problems, datasets = [], set()
    for name in sorted(catalog.tasks):
        task = catalog.task(name)
        if "hub" not in task.sources:
            continue
        train = [(split, task.train_language or "en") for split in ("train", "dev")]
        evals = [(split, lang) for split in ("eval", "tune", "translate_train") for lang in task.eval_languages]
        for split, lang in train + evals:
            plans = [p for p in resolver.plans(task, split, lang) if p.kind == "hub"]
            for part in plans[0].hub_parts if plans else []:
                datasets.add(part["dataset"])
            problems += resolver.hub_problems(task, split, lang)
    missing = sorted(d for d in datasets if shipped_facts(d) is None)
    assert not missing, f"no verified card facts shipped for {missing}"
    assert not problems, "\n".join(problems)


def test_shipped_facts_cite_the_card_they_were_read_from() -> None:
    folder = Path(__file__).resolve().parents[1] / "task_specs" / "hub_cards"
    files = sorted(folder.glob("*.json"))
    assert files
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert path.name == data["dataset"].replace("/", "--") + ".json"
        assert data["card"] == f"https://huggingface.co/datasets/{data['dataset']}"
        assert data["read_from"], f"{path.name} says nowhere where its facts were read"


def test_an_override_entry_inherits_nothing_of_the_sources_dataset(catalog) -> None:
    resolver = DataResolver(catalog, Path("/nonexistent"), HubAccess(lock=None, offline=True))
    for task, lang in (("xquad", "de"), ("mlqa", "de"), ("xcopa", "et")):
        (train,) = [p for p in resolver.plans(catalog.task(task), "train", lang) if p.kind == "hub"]
        (eval_plan,) = [p for p in resolver.plans(catalog.task(task), "eval", lang) if p.kind == "hub"]
        assert train.hub["dataset"] != eval_plan.hub["dataset"]
        assert train.hub["config"] in (None, "plain_text", "copa"), (
            train.hub
        )  # never the target's xquad.de / MLQA config


def test_a_malformed_lock_file_is_refused_with_its_pointer(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "x.lock.json",
        {"stilts_lock": 1, "datasets": [{"repo": "facebook/xnli", "revision": None, "commit": "main"}], "models": []},
    )
    with pytest.raises(SpecError) as info:
        LockFile.load(path)
    assert "/datasets/0/commit" in str(info.value) and "'main'" in str(info.value)


@pytest.mark.hub
def test_class_label_names_not_positions_decide_the_label(catalog, tmp_path: Path) -> None:
    """A card whose ClassLabel lists the labels in another order than the spec: records still get
    the label they name; a card whose names differ from the spec's labels is refused."""
    from datasets import ClassLabel, Features, Value

    mirror = tmp_path / "mirror"
    names = ["contradiction", "entailment", "neutral"]  # the spec says entailment, neutral, contradiction
    features = Features({"premise": Value("string"), "hypothesis": Value("string"), "label": ClassLabel(names=names)})
    rows = [{"premise": "a", "hypothesis": "b", "label": name} for name in ("neutral", "contradiction", "entailment")]
    write_dataset_repo(mirror, "lab/nli", {"default": {"train": rows}}, {"default": features})
    spec = catalog.load_spec(
        write_json(
            tmp_path / "nli.json",
            pair_spec(
                "lab-nli",
                labels=["entailment", "neutral", "contradiction"],
                fields={"text_a": "premise", "text_b": "hypothesis", "label": "label"},
                sources={"hub": {"dataset": "lab/nli", "splits": {"train": "train"}}},
            ),
        )
    )
    resolver = DataResolver(catalog, tmp_path, HubAccess(mirror=mirror, offline=True))
    assert resolver.hub_problems(spec, "train", "en") == []
    loaded = resolver.load(spec, "train", "en")
    assert [spec.labels[r["label"]] for r in loaded.records] == ["neutral", "contradiction", "entailment"]
    assert loaded.plan.hub["commit"] and len(loaded.plan.hub["commit"]) == 40

    other = Features(
        {"premise": Value("string"), "hypothesis": Value("string"), "label": ClassLabel(names=["yes", "no"])}
    )
    write_dataset_repo(mirror, "lab/nli", {"default": {"train": [{**rows[0], "label": "yes"}]}}, {"default": other})
    resolver = DataResolver(catalog, tmp_path, HubAccess(mirror=mirror, offline=True))
    (problem,) = resolver.hub_problems(spec, "train", "en")
    assert "column 'label' has the labels ['yes', 'no']" in problem and "not in the data" in problem


@pytest.mark.hub
def test_a_script_based_dataset_is_read_from_the_hubs_parquet_export(catalog, tmp_path: Path) -> None:
    """aps/super_glue keeps a loading script on main; XCOPA's English training split is read from
    the hub's parquet export branch (``refs/convert/parquet``: ``copa/train/0000.parquet``, no
    card), pinned to that branch's commit, through ``datasets.load_dataset``. Its ClassLabel
    (choice1/choice2) reaches the spec's labels through the spec's label_map."""
    from tests.hub_repos import card_features, write_parquet_export

    mirror = tmp_path / "mirror"
    features = card_features("aps/super_glue", "copa", "train")
    rows = [
        {"premise": f"premise {i}", "choice1": "one", "choice2": "two", "question": "cause", "idx": i, "label": i % 2}
        for i in range(6)
    ]
    tables = {"copa": {"train": rows, "validation": rows}}
    commit = write_parquet_export(mirror, "aps/super_glue", tables, {"copa": features})

    resolver = DataResolver(catalog, tmp_path / "no-local-data", HubAccess(mirror=mirror, offline=True))
    xcopa = catalog.task("xcopa")
    assert resolver.hub_problems(xcopa, "train", "en") == []
    loaded = resolver.load(xcopa, "train", "en")
    assert loaded.plan.hub["commit"] == commit
    assert [r["label"] for r in loaded.records] == [i % 2 for i in range(6)]
    assert [r["context"] for r in loaded.records] == [f"premise {i}" for i in range(6)]

    spec = json.loads((Path(__file__).resolve().parents[1] / "task_specs" / "xcopa.json").read_text(encoding="utf-8"))
    del spec["sources"]["hub"]["splits"]["train"]["revision"]  # main: the loading script
    on_main = catalog.load_spec(write_json(tmp_path / "xcopa-main.json", {**spec, "name": "xcopa-main"}))
    (problem,) = resolver.hub_problems(on_main, "train", "en")
    assert "loading script" in problem and "refs/convert/parquet" in problem


def test_the_docs_reference_table_is_what_the_specs_and_facts_say(catalog) -> None:
    """docs/hub-datasets.md is generated (python -m harness.hub_reference); it links every card."""
    from harness.hub_reference import render

    page = (Path(__file__).resolve().parents[1] / "docs" / "hub-datasets.md").read_text(encoding="utf-8")
    assert page == render(catalog), "regenerate it: python -m harness.hub_reference > docs/hub-datasets.md"
    for path in (Path(__file__).resolve().parents[1] / "task_specs" / "hub_cards").glob("*.json"):
        assert json.loads(path.read_text(encoding="utf-8"))["card"] in page
