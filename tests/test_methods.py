"""Training methods: LoRA through peft, seeds, reproducibility."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harness import hookimpl
from harness.errors import MissingResourcesError
from harness.experiment import load_experiment, method_label, resolve_method
from tests.helpers import catalog_with_specs, make_pipeline, write_json


def tiny(tmp_path: Path, tiny_model_dir: Path, name: str = "m", **extra) -> Path:
    data = {
        "name": name,
        "model": {"id": str(tiny_model_dir), "label": "tiny-bert"},
        "intermediate": ["qs-nli"],
        "targets": [{"task": "qs-paws", "languages": ["en", "de"]}],
        "training": {
            "epochs": 1,
            "batch_size": 16,
            "learning_rate": 1e-3,
            "max_length": 48,
            "max_train_examples": 48,
            "max_eval_examples": 24,
            "precision": "fp32",
        },
    }
    for key, value in extra.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) and key in data else value
    return write_json(tmp_path / f"{name}.json", data)


def interrupt_training_in_step(monkeypatch: pytest.MonkeyPatch, step: int) -> Callable[[], None]:
    """Make Trainer raise KeyboardInterrupt in its ``step``-th training step; returns the undo."""
    from transformers import Trainer

    real_step, calls = Trainer.training_step, []

    def crash(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == step:
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "training_step", crash)
    return lambda: monkeypatch.setattr(Trainer, "training_step", real_step)


def test_lora_defaults_and_labels() -> None:
    assert resolve_method({"kind": "lora"}) == {"kind": "lora", "r": 8, "alpha": 16, "dropout": 0.1}
    assert method_label({"kind": "lora", "r": 4}) == "lora-r4" and method_label({"kind": "full"}) == "full"


def test_lora_trains_adapters_and_the_head_only(catalog, tiny_model_dir: Path) -> None:
    from harness.interfaces import Head, ModelRef

    adapter = catalog.adapter("hf")
    model = adapter.load_model(ModelRef(str(tiny_model_dir)), Head("sequence_classification", num_labels=3))
    wrapped = adapter.prepare_for_training(model, resolve_method({"kind": "lora", "r": 2}))
    trainable = {name for name, p in wrapped.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name or "classifier" in name for name in trainable)
    assert any("classifier" in name for name in trainable)  # the task head is trained in full
    merged = adapter.finish_training(wrapped, {"kind": "lora"})
    assert type(merged).__name__ == "BertForSequenceClassification"
    assert not any("lora_" in name for name, _ in merged.named_parameters())


def test_lora_end_to_end_hands_over_a_merged_encoder(catalog, tiny_model_dir: Path, tmp_path: Path) -> None:
    exp = tiny(tmp_path, tiny_model_dir, training={"method": {"kind": "lora", "r": 4}, "learning_rate": 5e-3})
    [path] = make_pipeline(catalog, exp, tmp_path).run()
    result = json.loads(path.read_text())
    assert result["cell"]["method"] == "lora-r4" and "__lora-r4__" in result["cell"]["id"]
    assert result["config"]["intermediate"]["training"]["method"] == {
        "kind": "lora",
        "r": 4,
        "alpha": 16,
        "dropout": 0.1,
    }
    inter = Path(result["stages"][0]["path"]) / "model"
    assert (inter / "config.json").is_file() and not (inter / "adapter_config.json").exists()  # merged, plain model
    assert set(result["languages"]) == {"en", "de"}
    # full fine-tuning of the same experiment is a different cell and different stages
    full = tiny(tmp_path, tiny_model_dir, name="f")
    [full_path] = make_pipeline(catalog, full, tmp_path).run()
    other = json.loads(full_path.read_text())
    assert other["cell"]["method"] == "full" and other["stages"][0]["hash"] != result["stages"][0]["hash"]


def test_intermediate_method_differing_from_the_target_is_in_the_label(
    catalog, tiny_model_dir: Path, tmp_path: Path
) -> None:
    exp = load_experiment(tiny(tmp_path, tiny_model_dir, intermediate_training={"method": {"kind": "lora"}}), catalog)
    assert exp.method_label() == "lora-r8>full"
    assert exp.method_label({"kind": "lora", "r": 8}) == "lora-r8"  # a target that overrides the method


def test_full_method_takes_no_lora_options(catalog, tiny_model_dir: Path, tmp_path: Path) -> None:
    from harness.errors import SpecError

    with pytest.raises(SpecError, match="/training/method"):
        load_experiment(tiny(tmp_path, tiny_model_dir, training={"method": {"kind": "full", "r": 4}}), catalog)


def test_interrupted_training_resumes_from_its_checkpoint_to_the_same_numbers(
    catalog, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 epochs x 3 steps, a checkpoint every 2 steps, a crash in step 5: resuming from the
    step-4 checkpoint (optimizer, scheduler, RNG, dev selection) ends where an uninterrupted run does."""
    exp = tiny(
        tmp_path,
        tiny_model_dir,
        intermediate=["none"],
        training={"epochs": 2, "checkpoint_every": 2, "max_train_examples": 48},
    )
    [uninterrupted] = make_pipeline(catalog, exp, tmp_path / "a").run()
    undo = interrupt_training_in_step(monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        make_pipeline(catalog, exp, tmp_path / "b").run()
    [partial] = (tmp_path / "b" / "runs" / "target").glob(".*.partial")
    assert (partial / "checkpoints" / "checkpoint-4").is_dir()
    undo()
    [resumed] = make_pipeline(catalog, exp, tmp_path / "b").run()

    first, second = json.loads(uninterrupted.read_text()), json.loads(resumed.read_text())
    report = json.loads((Path(second["stages"][0]["path"]) / "report.json").read_text())["report"]
    assert report["resumed_from_step"] == 4 and report["steps"] == 6 and len(report["dev_scores"]) == 2
    assert second["dev"] == first["dev"] and second["languages"] == first["languages"]
    assert second["stages"][0]["hash"] == first["stages"][0]["hash"]
    assert not (Path(second["stages"][0]["path"]) / "checkpoints").exists()  # dropped once complete


def test_same_seed_gives_identical_metrics_and_another_seed_does_not(
    catalog, tiny_model_dir: Path, tmp_path: Path
) -> None:
    exp = tiny(tmp_path, tiny_model_dir, seeds=[1, 2])
    one = {
        json.loads(p.read_text())["cell"]["seed"]: json.loads(p.read_text())
        for p in make_pipeline(catalog, exp, tmp_path / "a").run()
    }
    two = {
        json.loads(p.read_text())["cell"]["seed"]: json.loads(p.read_text())
        for p in make_pipeline(catalog, exp, tmp_path / "b").run()
    }
    for seed in (1, 2):
        assert one[seed]["languages"] == two[seed]["languages"] and one[seed]["dev"] == two[seed]["dev"]
    assert one[1]["stages"][0]["hash"] != one[2]["stages"][0]["hash"]
    weights = [(Path(one[seed]["stages"][1]["path"]) / "model" / "model.safetensors").read_bytes() for seed in (1, 2)]
    assert weights[0] != weights[1]  # the seed reaches the head init, dropout and data order
    again = (Path(two[1]["stages"][1]["path"]) / "model" / "model.safetensors").read_bytes()
    assert again == weights[0]  # same seed: bit-identical trained weights


def test_leaderboard_gives_mean_and_std_over_seeds(catalog, tiny_model_dir: Path, tmp_path: Path) -> None:
    import statistics

    from harness.leaderboard import build_site

    exp = write_json(
        tmp_path / "exp.json",
        {
            "name": "seeds",
            "model": {"id": str(tiny_model_dir), "label": "tiny"},
            "targets": [{"task": "qs-tatoeba", "languages": ["de"]}],
            "training": {"max_eval_examples": 10, "precision": "fp32"},
        },
    )
    [path] = make_pipeline(catalog, exp, tmp_path).run()
    template = json.loads(path.read_text())
    path.unlink()
    for seed, score in ((1, 40.0), (2, 44.0), (3, 45.0)):  # three seeds' results of one cell
        result = json.loads(json.dumps(template))
        result["cell"].update(seed=seed, id=f"tiny__full__none__qs-tatoeba__seed{seed}")
        result["languages"]["de"]["retrieval_accuracy"] = result["aggregate"]["mean"] = score
        result["units"] = {}  # the faked scores have no per-example statistics
        write_json(path.parent / f"seed{seed}.json", result)
    index = build_site(tmp_path / "results", tmp_path / "site")
    [row] = json.loads((tmp_path / "site" / "leaderboard.json").read_text())["rows"]
    target = row["targets"]["qs-tatoeba"]
    assert target["seeds"] == [1, 2, 3] and target["per_seed"] == [40.0, 44.0, 45.0]
    assert target["mean"] == pytest.approx(43.0)
    assert target["std"] == pytest.approx(statistics.stdev([40.0, 44.0, 45.0]))
    assert "43.0<small> ± 2.6</small><br><small>n=3 seeds</small>" in index.read_text()


def test_rerun_reproduces_a_result_from_its_stored_configuration(
    catalog, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    exp = tiny(tmp_path, tiny_model_dir, intermediate=["none"])
    [path] = make_pipeline(catalog, exp, tmp_path).run()
    exp.unlink()  # the result alone is enough
    monkeypatch.chdir(tmp_path)
    outcome = CliRunner().invoke(app, ["rerun", str(path)])
    assert outcome.exit_code == 0, outcome.output
    assert "reproduced" in outcome.output
    [again] = (tmp_path / "reruns").rglob("*.json")
    assert json.loads(again.read_text())["languages"] == json.loads(path.read_text())["languages"]

    tampered = json.loads(path.read_text())
    tampered["languages"]["de"]["accuracy"] += 1.0
    path.write_text(json.dumps(tampered))
    outcome = CliRunner().invoke(app, ["rerun", str(path)])
    assert outcome.exit_code == 1 and "de accuracy: stored" in outcome.output


def test_sampling_policies_hand_computed() -> None:
    from harness.multitask import sampling_weights

    sizes = {"a": 100, "b": 400, "c": 1600}
    assert sampling_weights(sizes, {"kind": "proportional"}) == pytest.approx(
        {"a": 100 / 2100, "b": 400 / 2100, "c": 1600 / 2100}
    )
    assert sampling_weights(sizes, {"kind": "proportional", "cap": 400}) == pytest.approx(
        {"a": 1 / 9, "b": 4 / 9, "c": 4 / 9}
    )
    # T = 2: square roots 10, 20, 40
    assert sampling_weights(sizes, {"kind": "temperature", "temperature": 2}) == pytest.approx(
        {"a": 1 / 7, "b": 2 / 7, "c": 4 / 7}
    )
    assert sampling_weights(sizes, {"kind": "uniform"}) == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})


def paws_as_intermediate(tmp_path: Path):
    """The installed tasks plus ``qs-paws-inter``: qs-paws allowed as an intermediate task."""
    from plugins.quickstart import HERE

    spec = json.loads((HERE / "tasks" / "qs-paws.json").read_text())
    spec.update(name="qs-paws-inter", role="both")
    spec["sources"]["local"]["files"] = {
        split: str((HERE / "tasks" / path).resolve()) for split, path in spec["sources"]["local"]["files"].items()
    }
    write_json(tmp_path / "specs" / "qs-paws-inter.json", spec)
    return catalog_with_specs(tmp_path / "specs")


def test_multitask_group_with_continued_mlm_end_to_end(tiny_model_dir: Path, tmp_path: Path) -> None:
    catalog = paws_as_intermediate(tmp_path)
    group = {
        "name": "nli+paws+mlm",
        "tasks": ["qs-nli", "qs-paws-inter"],
        "sampling": {"kind": "temperature", "temperature": 2},
        "mlm": {"text_from": {"task": "qs-tatoeba"}, "languages": ["de", "fr"], "ratio": 0.5},
    }
    exp = tiny(
        tmp_path,
        tiny_model_dir,
        intermediate=["none", group],
        training={"epochs": 2, "max_train_examples": 32, "checkpoint_every": 3},
    )
    paths = make_pipeline(catalog, exp, tmp_path).run()
    result = json.loads(next(p for p in paths if "nli-paws-mlm" in p.name or "nli+paws+mlm" in p.name).read_text())
    assert result["cell"]["intermediate"] == "nli+paws+mlm"
    stage = Path(result["stages"][0]["path"])
    report = json.loads((stage / "report.json").read_text())
    batches = report["report"]["batches_per_task"]
    assert (
        set(batches) == {"qs-nli", "qs-paws-inter", "continued_mlm"}
        and sum(batches.values()) == report["report"]["steps"]
    )
    assert len(report["report"]["dev_scores"]) == 2  # one evaluation per epoch
    best = report["best_dev"]
    assert set(best) >= {"mean", "qs-nli/accuracy", "qs-paws-inter/accuracy"}
    assert best["mean"] == pytest.approx((best["qs-nli/accuracy"] + best["qs-paws-inter/accuracy"]) / 2)
    assert {d["task"] for d in result["data"]} >= {"qs-nli", "qs-paws-inter", "qs-tatoeba"}
    assert (stage / "model" / "config.json").is_file() and not (stage / "checkpoints").exists()
    # the group's stage is reused by a second run
    pipeline = make_pipeline(catalog, exp, tmp_path)
    assert pipeline.run() == paths
    assert pipeline.session is not None and not pipeline.session.built


def test_interrupted_multitask_stage_resumes_to_the_same_numbers(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = paws_as_intermediate(tmp_path)
    group = {
        "name": "pair",
        "tasks": ["qs-nli", "qs-paws-inter"],
        "steps_per_epoch": 3,
        "mlm": {"text_from": {"task": "qs-tatoeba"}, "languages": ["de"], "ratio": 1, "max_examples_per_language": 20},
    }
    exp = tiny(tmp_path, tiny_model_dir, intermediate=[group], training={"epochs": 2, "checkpoint_every": 2})
    [uninterrupted] = make_pipeline(catalog, exp, tmp_path / "a").run()
    undo = interrupt_training_in_step(monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        make_pipeline(catalog, exp, tmp_path / "b").run()
    undo()
    [resumed] = make_pipeline(catalog, exp, tmp_path / "b").run()
    first, second = json.loads(uninterrupted.read_text()), json.loads(resumed.read_text())
    report = json.loads((Path(second["stages"][0]["path"]) / "report.json").read_text())["report"]
    assert report["resumed_from_step"] == 4 and report["steps"] == 6
    assert second["config"]["intermediate"]["dev"] == first["config"]["intermediate"]["dev"]
    assert second["languages"] == first["languages"]
    weights = [(Path(r["stages"][1]["path"]) / "model" / "model.safetensors").read_bytes() for r in (first, second)]
    assert weights[0] == weights[1]


class FakeTranslator:
    """A translation provider plugin for tests: '[de] text', counting calls."""

    calls: list[tuple[str, str, int]] = []

    @hookimpl
    def stilts_translation_providers(self):
        from harness.interfaces import Entry, TranslationProvider

        calls = self.calls

        class Fake(TranslationProvider):
            def translate(self, texts, source, target, options):
                calls.append((source, target, len(texts)))
                return [f"[{target}] {text}" for text in texts]

        return [Entry("fake", Fake, "test provider")]


def test_translate_train_with_a_provider_is_cached_by_content(tiny_model_dir: Path, tmp_path: Path) -> None:
    from harness.plugins import load_plugins
    from harness.registry import Catalog

    FakeTranslator.calls.clear()
    catalog = Catalog(load_plugins(extra=[("fake-translator", FakeTranslator())]))
    group = {"name": "nli-tt", "tasks": ["qs-nli"], "translate": {"languages": ["de", "fr"], "provider": "fake"}}
    exp = tiny(tmp_path, tiny_model_dir, intermediate=[group], training={"max_train_examples": 16})
    [path] = make_pipeline(catalog, exp, tmp_path).run()
    assert sorted(call[1] for call in FakeTranslator.calls) == ["de", "fr"]
    result = json.loads(path.read_text())
    translated = [d for d in result["data"] if d.get("source") == "translation"]
    assert [(d["lang"], d["translation"]["provider"]) for d in translated] == [("de", "fake"), ("fr", "fake")]
    report = json.loads((Path(result["stages"][0]["path"]) / "report.json").read_text())["report"]
    assert report["examples"] == 48  # 16 English + 16 German + 16 French
    cached = list((tmp_path / "runs" / "translations").glob("*.json"))
    assert len(cached) == 2 and all(
        text.startswith(("[de] ", "[fr] ")) for f in cached for text in json.loads(f.read_text())
    )
    # another stage (other seed) translating the same texts reads the cache, the provider is not called
    FakeTranslator.calls.clear()
    exp2 = tiny(
        tmp_path, tiny_model_dir, name="m2", intermediate=[group], seeds=[7], training={"max_train_examples": 16}
    )
    make_pipeline(catalog, exp2, tmp_path).run()
    assert FakeTranslator.calls == []


def test_translate_train_files_in_the_spec_need_no_provider(tiny_model_dir: Path, tmp_path: Path) -> None:
    from plugins.quickstart import HERE

    spec = json.loads((HERE / "tasks" / "qs-nli.json").read_text())
    files = {split: str((HERE / "tasks" / path).resolve()) for split, path in spec["sources"]["local"]["files"].items()}
    german = tmp_path / "translated" / "qs-nli-train-de.tsv"  # stand-in for a released translation
    german.parent.mkdir()
    german.write_text(Path(files["train"]).read_text(encoding="utf-8"), encoding="utf-8")
    files["translate_train"] = str(tmp_path / "translated" / "qs-nli-train-{lang}.tsv")
    spec["sources"]["local"]["files"] = files
    spec.update(name="qs-nli-tt")
    write_json(tmp_path / "specs" / "qs-nli-tt.json", spec)
    catalog = catalog_with_specs(tmp_path / "specs")
    group = {"name": "tt-files", "tasks": ["qs-nli-tt"], "translate": {"languages": ["de"], "keep_english": False}}
    exp = tiny(tmp_path, tiny_model_dir, intermediate=[group], training={"max_train_examples": 16})
    [path] = make_pipeline(catalog, exp, tmp_path).run()
    data = json.loads(path.read_text())["data"]
    assert any(d["split"] == "translate_train" and d["lang"] == "de" and d["source"] == "local" for d in data)

    missing = tiny(tmp_path, tiny_model_dir, name="m3", intermediate=[{**group, "translate": {"languages": ["xx"]}}])
    with pytest.raises(MissingResourcesError, match="translate_train"):
        make_pipeline(catalog, missing, tmp_path).run()


def test_builtin_seq2seq_provider_on_a_tiny_local_model(tmp_path: Path, minilm_dir: Path) -> None:
    """A randomly initialised 1-layer T5 with MiniLM's tokenizer: the real generate path, offline."""
    import torch
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    from plugins.translation.seq2seq import Seq2SeqTranslation

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    config = T5Config(
        vocab_size=tokenizer.vocab_size,
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.sep_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    folder = tmp_path / "tiny-mt-en-de"
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    options = {"model": str(tmp_path / "tiny-mt-{source}-{target}"), "max_length": 8, "num_beams": 1, "batch_size": 2}
    out = Seq2SeqTranslation().translate(["a cat sat", "the dog", "hello"], "en", "de", options)
    assert len(out) == 3 and all(isinstance(text, str) for text in out)
    with pytest.raises(ValueError, match=r"options\.model is required"):
        Seq2SeqTranslation().translate(["x"], "en", "de", {})


def test_target_language_dev_selection_is_labelled_not_zero_shot(catalog, tiny_model_dir: Path, tmp_path: Path) -> None:
    from plugins.quickstart import HERE

    source = json.loads((HERE / "tasks" / "qs-paws.json").read_text())["sources"]["local"]
    data = (HERE / "data").resolve()
    source["files"] = {
        "train": f"{data}/qs-paws-train-en.tsv",
        "dev": f"{data}/qs-paws-test-{{lang}}.tsv",
        "eval": f"{data}/qs-paws-test-{{lang}}.tsv",
    }  # stand-in: a dev set in every language
    exp = tiny(
        tmp_path,
        tiny_model_dir,
        intermediate=["none"],
        training={"selection": "target_dev", "epochs": 2},
        sources={"qs-paws": {"local": source}},
    )
    [path] = make_pipeline(catalog, exp, tmp_path).run()
    result = json.loads(path.read_text())
    assert result["cell"]["method"] == "full+target-dev" and result["cell"]["zero_shot"] is False
    assert {"accuracy", "en/accuracy", "de/accuracy"} <= set(result["dev"])
    assert result["dev"]["accuracy"] == pytest.approx((result["dev"]["en/accuracy"] + result["dev"]["de/accuracy"]) / 2)
    assert any(d["split"] == "dev" and d["lang"] == "de" for d in result["data"])
    default = json.loads(
        make_pipeline(catalog, tiny(tmp_path, tiny_model_dir, name="d", intermediate=["none"]), tmp_path)
        .run()[0]
        .read_text()
    )
    assert default["cell"]["zero_shot"] is True and default["cell"]["method"] == "full"


def test_target_languages_without_dev_data_are_reported_not_dropped_silently(
    catalog, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """Target-language dev selection over en and de with dev data in English only: the run
    summary warns and the result says which languages selection could not use."""
    from harness.planning import dev_languages_dropped
    from plugins.quickstart import HERE

    source = json.loads((HERE / "tasks" / "qs-paws.json").read_text())["sources"]["local"]
    data = (HERE / "data").resolve()
    source["files"] = {
        "train": f"{data}/qs-paws-train-en.tsv",
        "dev": f"{data}/qs-paws-dev-{{lang}}.tsv",  # only qs-paws-dev-en.tsv exists
        "eval": f"{data}/qs-paws-test-{{lang}}.tsv",
    }
    exp = tiny(
        tmp_path,
        tiny_model_dir,
        intermediate=["none"],
        training={"selection": "target_dev"},
        sources={"qs-paws": {"local": source}},
    )
    pipeline = make_pipeline(catalog, exp, tmp_path)
    plan = pipeline.prepare()
    assert dev_languages_dropped(plan) == {"qs-paws": ["de"]}
    [path] = pipeline.run(plan)
    target = json.loads(path.read_text())["config"]["target"]
    assert target["dev_languages"] == ["en"] and target["dev_languages_without_data"] == ["de"]


def test_batch_schedule_is_fixed_by_the_seed_and_follows_the_weights() -> None:
    from harness.multitask import Member, batch_schedule

    def member(name: str, n: int, weight: float) -> Member:
        features = [{"input_ids": [0] * (1 + i % 7)} for i in range(n)]
        return Member(name, None, None, None, features, None, [], None, weight=weight)  # type: ignore[arg-type]

    members = [member("a", 40, 0.75), member("b", 10, 0.25)]
    one = batch_schedule(members, 4, 400, seed=3)
    assert one == batch_schedule(members, 4, 400, seed=3) and one != batch_schedule(members, 4, 400, seed=4)
    share_a = sum(1 for i, _ in one if i == 0) / len(one)
    assert 0.68 < share_a < 0.82
    # each task walks through all its examples before repeating one
    first_pass_b = [j for i, batch in one if i == 1 for j in batch][:10]
    assert sorted(first_pass_b) == list(range(10))
    plain = batch_schedule(members, 4, 60, seed=3, group_by_length=False)
    first_pass_a = [j for i, batch in plain if i == 0 for j in batch][:40]
    assert sorted(first_pass_a) == list(range(40)) and first_pass_a != list(range(40))  # a shuffled full pass
