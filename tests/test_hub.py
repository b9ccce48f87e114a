"""The hub path, proven offline through the real loaders (``pytest -m hub``).

A mirror of hub-format repositories (:mod:`tests.hub_repos`: card YAML with the real cards'
configs and features, parquet rows from ``../shared/data``, a model folder) is read through
``datasets.load_dataset`` and ``from_pretrained``. The checks: every task type reads the same
records from the hub copy as from the local files; ``stilts lock`` pins every dataset and model to
a 40-hex commit; a run with ``--offline`` reads exactly the locked commits (not a newer one), and
scores what the same experiment on local files scores; ClassLabel names, not positions, decide
labels; wrong config names are refused before training with the closest valid names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.data import DataResolver
from harness.experiment import load_experiment
from harness.hub import HubAccess
from tests.helpers import write_json
from tests.hub_repos import card_features, git_commit, hub_rows, write_dataset_repo, write_model_repo

pytestmark = [pytest.mark.hub, pytest.mark.shared_data]

STILTS = str(Path(sys.executable).parent / "stilts")
MODEL_REPO = "sentence-transformers/all-MiniLM-L6-v2"

#: The experiment read both ways: on local files (these source overrides, slices of
#: ../shared/data) and through the hub (the specs' own hub sources, from the mirror). Logical
#: splits that share a hub split get the same rows, so both runs read identical records.
LOCAL_SOURCES: dict[str, Any] = {
    "xnli": {
        "local": {
            "format": "tsv",
            "options": {"columns": ["premise", "hypothesis", "label"]},
            "files": {
                "train": "{data_dir}/xnli/dev-en.tsv",
                "dev": "{data_dir}/xnli/dev-en.tsv",
                "eval": "{data_dir}/xnli/dev-{lang}.tsv",
            },
            "slices": {"train": "0:40", "dev": "40:70", "eval": "100:130"},
        }
    },
    "udpos": {
        "local": {
            "format": "conll_tags",
            "fields": {"tokens": "tokens", "tags": "tags"},
            "files": {
                "train": "{data_dir}/udpos/xtreme/train-en.tsv",
                "dev": "{data_dir}/udpos/xtreme/dev-en.tsv",
                "eval": "{data_dir}/udpos/xtreme/dev-{lang}.tsv",
            },
            "slices": {"train": "0:40", "dev": "0:30", "eval": "100:130"},
        }
    },
    "xquad": {
        "local": {
            "format": "squad_json",
            "files": {
                "train": "{data_dir}/squad/train-v1.1.first11articles.json",
                "dev": "{data_dir}/squad/train-v1.1.first11articles.json",
                "eval": "{data_dir}/xquad/xquad.{lang}.json",
            },
            "slices": {"train": "0:24", "dev": "3000:3016", "eval": "0:20"},
        }
    },
    "tatoeba": {
        "local": {
            "format": "aligned_lines",
            "lang_codes": {"de": "deu"},
            "files": {
                "eval": {
                    "source": "{data_dir}/tatoeba/tatoeba.{lang}-eng.{lang}",
                    "target": "{data_dir}/tatoeba/tatoeba.{lang}-eng.eng",
                }
            },
            "slices": {"eval": "0:40"},
        }
    },
    "hellaswag": {
        "local": {
            "format": "hellaswag_text",
            "files": {
                "train": "{data_dir}/hellaswag/hellaswag_val_full.txt",
                "dev": "{data_dir}/hellaswag/hellaswag_val_full.txt",
            },
            "slices": {"train": "0:24", "dev": "500:516"},
        }
    },
}


def experiment_data(model: dict[str, Any], name: str, sources: dict[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "model": model,
        "intermediate": ["none", "hellaswag"],
        "targets": [
            {"task": "xnli", "languages": ["de", "en"]},
            {"task": "udpos", "languages": ["de"]},
            {"task": "xquad", "languages": ["de"]},
            {"task": "tatoeba", "languages": ["de"]},
        ],
        "seeds": [1],
        "training": {
            "epochs": 1,
            "batch_size": 8,
            "learning_rate": 1e-4,
            "max_length": 64,
            "precision": "fp32",
            "max_eval_examples": 40,
        },
    }
    if sources is not None:
        data["sources"] = sources
    return data


# -- building the mirror -----------------------------------------------------------------------------
def build_mirror(
    catalog: Any,
    local_experiment: Path,
    hub_experiment: Path,
    shared_data: Path,
    mirror: Path,
    hub_data_dir: Path | None = None,
    strict: bool = True,
) -> None:
    """Every hub split the hub experiment reads (local files under ``hub_data_dir`` are read
    instead, as a run would), holding the records the local experiment reads for the same logical
    split, plus the model. ``strict``: two logical splits that read one hub split must have the
    same records (else the first one's are kept). A part read from the parquet export goes to the
    mirror's ``refs/convert/parquet``."""
    from harness.hub_cards import PARQUET_EXPORT
    from harness.needs import experiment_needs
    from tests.hub_repos import write_parquet_export

    local = load_experiment(local_experiment, catalog)
    hub_exp = load_experiment(hub_experiment, catalog)
    local_resolver = DataResolver(catalog, shared_data)
    hub_resolver = DataResolver(catalog, hub_data_dir or shared_data, HubAccess(lock=None, offline=True))
    tables: dict[tuple[str, bool], dict[str, dict[str, list[dict]]]] = {}
    features: dict[tuple[str, bool], dict[str, Any]] = {}
    for need in experiment_needs(catalog, hub_exp):
        candidates = hub_resolver.plans(need.task, need.split, need.lang)
        if any(p.available_locally for p in candidates):
            continue
        plans = [p for p in candidates if p.kind == "hub"]
        if not plans:
            continue
        (part,) = plans[0].hub_parts
        local_task = local.task(catalog, need.task.name)
        records = local_resolver.load(local_task, need.split, need.lang).records
        config = part["config"] or default_config(part["dataset"])
        feats = card_features(part["dataset"], config, part["split"])
        rows = hub_rows(catalog, need.task, records, feats)
        key = (part["dataset"], part.get("revision") == PARQUET_EXPORT)
        existing = tables.setdefault(key, {}).setdefault(config, {}).get(part["split"])
        assert not strict or existing is None or existing == rows, f"{part} would need two different row sets"
        if existing is None:
            tables[key][config][part["split"]] = rows
        features.setdefault(key, {})[config] = feats
    for (dataset, export), configs in tables.items():
        write = write_parquet_export if export else write_dataset_repo
        write(mirror, dataset, configs, features[(dataset, export)])


def default_config(dataset: str) -> str:
    from harness.hub_cards import shipped_facts

    facts = shipped_facts(dataset)
    assert facts is not None
    name, _ = facts.config(None)
    assert name is not None, f"{dataset}: no default config in its card facts"
    return name


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, shared_data: Path, minilm_dir: Path) -> dict[str, Path]:
    from harness.plugins import load_plugins
    from harness.registry import Catalog

    catalog = Catalog(load_plugins())
    root = tmp_path_factory.mktemp("hub-study")
    mirror = root / "mirror"
    local_exp = write_json(
        root / "local.json", experiment_data({"id": str(minilm_dir), "label": "minilm"}, "hub-local", LOCAL_SOURCES)
    )
    hub_exp = write_json(root / "hub.json", experiment_data({"id": MODEL_REPO, "label": "minilm"}, "hub-path", None))
    no_local_files = root / "no-local-files"  # the hub experiment's data folder: everything comes from the hub
    no_local_files.mkdir(exist_ok=True)
    build_mirror(catalog, local_exp, hub_exp, shared_data, mirror, no_local_files)
    write_model_repo(mirror, MODEL_REPO, minilm_dir)
    return {"root": root, "mirror": mirror, "local": local_exp, "hub": hub_exp}


def stilts(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([STILTS, *args], env=env, capture_output=True, text=True, timeout=1200)
    if check:
        assert done.returncode == 0, f"stilts {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def offline_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment of a `stilts` subprocess: offline, its own caches, and (unless a test passes
    --data-dir) an empty local data folder, so what is read from the hub never depends on the caller's
    STILTS_DATA_DIR or working directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STILTS_HUB", "STILTS_LOCK"))}
    (root / "no-local-files").mkdir(exist_ok=True)
    env.update(
        STILTS_DATA_DIR=str(root / "no-local-files"),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        STILTS_CACHE_DIR=str(root / "cache"),
        HF_DATASETS_CACHE=str(root / "hf-datasets"),
        HF_HOME=str(root / "hf-home"),
        **extra,
    )
    return env


# -- the tests ------------------------------------------------------------------------------------------
def test_lock_pins_every_dataset_and_model_then_an_offline_run_reads_only_the_locked_commits(
    study: dict[str, Path], shared_data: Path
) -> None:
    root, mirror = study["root"], study["mirror"]
    env = offline_env(root, STILTS_HUB_MIRROR=str(mirror))
    stilts("lock", str(study["hub"]), env=env)
    lock_path = study["hub"].with_name("hub.lock.json")
    lock = json.loads(lock_path.read_text())
    datasets = {one["repo"]: one["commit"] for one in lock["datasets"]}
    assert set(datasets) == {
        "facebook/xnli",
        "google/xtreme",
        "rajpurkar/squad",
        "google/xquad",
        "Rowan/hellaswag",
    }
    assert [one["repo"] for one in lock["models"]] == [MODEL_REPO]
    for one in [*lock["datasets"], *lock["models"]]:
        assert len(one["commit"]) == 40 and int(one["commit"], 16) >= 0
    assert (
        "udpos.German"
        in lock["datasets"][[d["repo"] for d in lock["datasets"]].index("google/xtreme")]["card"]["configs"]
    )

    # the mirror moves on after the lock: new data in XNLI and new weights; the run must not see them
    xnli = mirror / "datasets" / "facebook" / "xnli"
    for parquet in xnli.rglob("test-*.parquet"):
        parquet.unlink()
    git_commit(xnli, "upstream rewrote the test split")
    weights = mirror / "models" / MODEL_REPO / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    git_commit(weights.parent, "new weights")

    runs, results = root / "runs", root / "results"
    stilts("run", str(study["hub"]), "--offline", "--runs-dir", str(runs), "--results-dir", str(results), env=env)
    result = json.loads(next((results / "hub-path").glob("*xnli*.json")).read_text())
    read = [one for one in result["data"] if one["source"] == "hub"]
    assert read, "the result records which hub commits it read"
    for one in read:
        for part in one["hub"].get("parts", [one["hub"]]):
            assert part["commit"] == datasets[part["dataset"]]

    # the same experiment on the local files scores the same: the hub path read the same records
    local_results = root / "local-results"
    stilts(
        "run",
        str(study["local"]),
        "--offline",
        "--data-dir",
        str(shared_data),
        "--runs-dir",
        str(root / "local-runs"),
        "--results-dir",
        str(local_results),
        env=offline_env(root),
    )
    assert scores(results / "hub-path") == scores(local_results / "hub-local")


def scores(folder: Path) -> dict[str, Any]:
    out = {}
    for path in sorted(folder.glob("*.json")):
        result = json.loads(path.read_text())
        out[result["cell"]["intermediate"] + "/" + result["cell"]["target"]] = result["languages"]
    return out


def test_mlm_and_mining_read_the_same_records_from_the_hub_as_from_local_files(
    catalog: Any, shared_data: Path, tmp_path: Path
) -> None:
    """The two task types the study experiment does not train: continued MLM reads Wikipedia
    (``wikimedia/wikipedia`` config ``20231101.de``, columns from its card) and mining reads one
    corpus per row (a lab's own hub copy of BUCC 2018: the hub's ``google/xtreme`` bucc18 configs
    hold the gold pairs only, not the corpora mining searches). Both through
    ``datasets.load_dataset`` on the mirror, record for record equal to the local files."""
    from datasets import Features, Sequence, Value

    from tests.helpers import catalog_with_specs

    mirror, local_dir, empty = tmp_path / "mirror", tmp_path / "local", tmp_path / "empty"
    empty.mkdir()
    premises = [
        line.split("\t")[0] for line in (shared_data / "xnli" / "dev-de.tsv").read_text(encoding="utf-8").splitlines()
    ]
    lines = list(dict.fromkeys(text for text in premises[1:41] if text.strip()))
    (local_dir / "mlm").mkdir(parents=True)
    (local_dir / "mlm" / "de.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    features = card_features("wikimedia/wikipedia", "20231101.de", "train")
    rows = [
        {"id": str(i), "url": f"https://de.wikipedia.org/wiki?curid={i}", "title": "", "text": t}
        for i, t in enumerate(lines)
    ]
    write_dataset_repo(mirror, "wikimedia/wikipedia", {"20231101.de": {"train": rows}}, {"20231101.de": features})

    bucc = json.loads((Path(__file__).resolve().parents[1] / "task_specs" / "bucc.json").read_text(encoding="utf-8"))
    bucc["name"] = "lab-bucc"
    bucc["sources"]["hub"] = {
        "dataset": "lab/bucc2018",
        "config": "{lang}-en",
        "splits": {"eval": "validation", "tune": "validation"},
    }
    bucc["sources"]["local"]["files"]["eval"] = bucc["sources"]["local"]["files"][
        "tune"
    ]  # ../shared has the dev corpus
    write_json(tmp_path / "specs" / "lab-bucc.json", bucc)
    lab = catalog_with_specs(tmp_path / "specs")
    local_bucc = DataResolver(lab, shared_data).load(lab.task("lab-bucc"), "eval", "zh").records
    pairs = Sequence(Sequence(Value("string")))
    corpus = Features({"source": pairs, "target": pairs, "gold": pairs})
    write_dataset_repo(mirror, "lab/bucc2018", {"zh-en": {"validation": local_bucc}}, {"zh-en": corpus})

    hub = DataResolver(lab, empty, HubAccess(mirror=mirror, offline=True))
    for task, split, lang, local_root in (("mlm", "train", "de", local_dir), ("lab-bucc", "eval", "zh", shared_data)):
        spec = lab.task(task)
        assert hub.hub_problems(spec, split, lang) == []
        from_hub = hub.load(spec, split, lang)
        assert from_hub.plan.kind == "hub" and len(from_hub.plan.hub["commit"]) == 40
        from_files = DataResolver(lab, local_root).load(spec, split, lang)
        assert from_files.plan.kind == "local"
        assert from_hub.records == from_files.records, task
    assert len(local_bucc) == 1 and len(local_bucc[0]["gold"]) > 100


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_the_mini_study_read_from_the_hub_locks_every_repository_and_plans_offline_from_the_lock(
    catalog: Any, shared_data: Path, minilm_dir: Path, tmp_path: Path
) -> None:
    """examples/xstilts-mini-hub.json (the mini study, every task with a hub source read from it): `stilts lock`
    on a mirror holding every repository it reads pins each to a 40-hex commit after checking every
    request against the cards; then `stilts plan --offline` with only the lock and the mirror finds
    every stage plannable (nothing missing, nothing blocked). BUCC and LAReQA read local files."""
    data = tmp_path / "data"
    data.mkdir()
    for folder in ("bucc2018", "lareqa"):
        (data / folder).symlink_to(shared_data / folder)
    (data / "squad").mkdir()  # LAReQA trains on these SQuAD articles (the SQuAD tasks read train-v1.1.json)
    (data / "squad" / "train-v1.1.first11articles.json").symlink_to(
        shared_data / "squad" / "train-v1.1.first11articles.json"
    )
    mirror = tmp_path / "mirror"
    experiment = tmp_path / "xstilts-mini-hub.json"
    experiment.write_text((EXAMPLES / "xstilts-mini-hub.json").read_text(encoding="utf-8"), encoding="utf-8")
    build_mirror(catalog, EXAMPLES / "xstilts-mini.json", experiment, shared_data, mirror, data, strict=False)
    write_model_repo(mirror, "intfloat/multilingual-e5-small", minilm_dir)  # stand-in bytes: nothing loads it here

    env = offline_env(tmp_path, STILTS_HUB_MIRROR=str(mirror))
    stilts("lock", str(experiment), "--data-dir", str(data), env=env)
    lock = json.loads(experiment.with_name("xstilts-mini-hub.lock.json").read_text(encoding="utf-8"))
    assert {one["repo"] for one in lock["datasets"]} == {
        "nyu-mll/multi_nli",
        "rajpurkar/squad",
        "Rowan/hellaswag",
        "lighteval/siqa",
        "allenai/cosmos_qa",
        "facebook/xnli",
        "google-research-datasets/paws-x",
        "google/xtreme",
        "google/xquad",
    }
    assert [one["repo"] for one in lock["models"]] == ["intfloat/multilingual-e5-small"]
    assert all(len(one["commit"]) == 40 for one in [*lock["datasets"], *lock["models"]])
    cosmos = next(one for one in lock["datasets"] if one["repo"] == "allenai/cosmos_qa")
    assert cosmos["revision"] == "refs/convert/parquet"

    planned = stilts("plan", str(experiment), "--data-dir", str(data), "--json", env=env)
    plan = json.loads(planned.stdout)
    assert plan["problems"] == [], plan["problems"]
    states = {stage["state"] for stage in plan["stages"]}
    assert "blocked" not in states, [s["reason"] for s in plan["stages"] if s["state"] == "blocked"][:5]
    assert plan["counts"]["intermediate"]["total"] == 6 * 3 and len(plan["cells"]) == 7 * 9 * 3
