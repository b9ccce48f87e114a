"""The leaderboard's bundled metadata: language facts cover every spec, published rows are sane."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.site_data import language_groups, load_languages, load_published

SPECS = Path(__file__).resolve().parents[1] / "task_specs"


def _specs() -> dict[str, dict]:
    specs = {}
    for path in sorted(SPECS.glob("*.json")):
        spec = json.loads(path.read_text(encoding="utf-8"))
        specs[spec["name"]] = spec
    return specs


def _spec_languages() -> set[str]:
    codes: set[str] = set()
    for spec in _specs().values():
        languages = spec.get("languages", {})
        train = languages.get("train")
        if isinstance(train, str):
            codes.add(train)
        elif isinstance(train, list):
            codes.update(train)
        codes.update(languages.get("eval", []))
    return codes


def test_every_spec_language_has_family_and_script() -> None:
    languages = load_languages()
    used = _spec_languages()
    assert used, "no languages found in task_specs/"
    missing = sorted(used - languages.keys())
    assert not missing, f"no metadata for {missing}"
    for code in sorted(used):
        meta = languages[code]
        assert meta["name"].strip(), code
        assert meta["family"].strip(), code
        assert meta["script"].strip(), code


def test_language_metadata_shape() -> None:
    languages = load_languages()
    assert list(languages) == sorted(languages)
    for code, meta in languages.items():
        assert meta["resource"] is None or (isinstance(meta["resource"], int) and 0 <= meta["resource"] <= 5), code


def test_published_rows_use_real_tasks_and_percentages() -> None:
    published = load_published()
    specs = _specs()
    assert published["rows"]
    for row in published["rows"]:
        assert row["kind"] == "published"
        assert row["scores"], row["label"]
        for task, score in row["scores"].items():
            assert task in specs, f"{row['label']}: {task} is not a task spec"
            assert isinstance(score, (int, float)) and 0 <= score <= 100, (row["label"], task, score)
        for task, metric in row["metrics"].items():
            assert metric in specs[task]["metrics"], (row["label"], task, metric)
        assert set(row.get("caveats", {})) <= set(row["scores"])
    for finding in published["findings"]:
        assert finding["text"].strip() and "2005.13013" in finding["citation"]


def test_xstilts_tydiqa_carries_the_not_zero_shot_caveat() -> None:
    rows = {row["label"]: row for row in load_published()["rows"]}
    xstilts = next(row for label, row in rows.items() if label.startswith("X-STILTs"))
    assert xstilts["scores"]["tydiqa"] == pytest.approx(76.0)
    assert "zero-shot" in xstilts["caveats"]["tydiqa"]


def test_language_groups_hand_example() -> None:
    groups = language_groups(["fr", "de", "hi", "zh", "xx", "de"])
    assert set(groups) == {"family", "script", "resource"}
    assert groups["family"] == {
        "Indo-European": ["de", "fr", "hi"],
        "Sino-Tibetan": ["zh"],
        "unknown": ["xx"],
    }
    assert groups["script"] == {"Devanagari": ["hi"], "Han": ["zh"], "Latin": ["de", "fr"], "unknown": ["xx"]}
    assert groups["resource"] == {"class 4": ["hi"], "class 5": ["de", "fr", "zh"], "unknown": ["xx"]}


def test_language_groups_null_resource_is_unknown() -> None:
    assert language_groups(["ht"])["resource"] == {"unknown": ["ht"]}
    assert language_groups([]) == {"family": {}, "script": {}, "resource": {}}
