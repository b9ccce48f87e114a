"""The objects plugins hand to the core: task types, model adapters, data formats, metrics.

Hooks in :mod:`harness.hookspecs` return :class:`Entry` objects that point at one of these
classes by ``"module:attr"`` so that listing what is registered imports nothing heavy; the class
is imported (and instantiated with no arguments) only when a run needs it.
"""

from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # pragma: no cover - typing only
    from harness.tasks import TaskSpec
    from harness.units import Units


@dataclass(frozen=True)
class Entry:
    """A named thing a plugin registers, imported only when first used.

    ``target`` is either ``"package.module:attr"`` or the object itself. ``plugin`` is filled in
    by the core with the name of the plugin that registered the entry.
    """

    name: str
    target: Any
    description: str = ""
    plugin: str = ""

    def load(self) -> Any:
        """Import (if needed) and return the registered object."""
        if not isinstance(self.target, str):
            return self.target
        module_name, _, attr = self.target.partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in attr.split(".") if attr else []:
            obj = getattr(obj, part)
        return obj


@dataclass(frozen=True)
class ModelRef:
    """Where a model comes from: a hub id or a local folder (a stage checkpoint is a folder).

    ``revision``: for a hub id, the revision; once the run has pinned it (:mod:`harness.hub`),
    the 40-hex commit that stage keys name and that is loaded. ``snapshot``: a local folder that
    holds the hub repository at that commit (a mirror's export), loaded instead of the hub.
    """

    id: str
    revision: str | None = None
    trust_remote_code: bool = False
    snapshot: str | None = None

    @property
    def is_local(self) -> bool:
        """A local folder given as the model (not a hub id, even one read from a mirror)."""
        return Path(self.id).expanduser().is_dir()

    @property
    def load_path(self) -> str:
        """What ``from_pretrained`` is given: the snapshot folder, else the id or folder."""
        return self.snapshot or self.id


@dataclass(frozen=True)
class Head:
    """What a task type needs on top of the encoder.

    ``kind`` is one of ``sequence_classification``, ``multiple_choice``, ``question_answering``,
    ``token_classification``, ``masked_lm`` or ``encoder`` (no head: embeddings only).
    ``dual_encoder``: one shared encoder for questions and answers, trained with in-batch negatives.
    """

    kind: str
    num_labels: int | None = None
    labels: tuple[str, ...] = ()


@dataclass
class RunSettings:
    """How prediction runs: shared by every task type."""

    batch_size: int = 64
    precision: str = "fp32"  # resolved: "bf16" or "fp32" (never "auto" here)
    device: str = "cpu"
    max_length: int = 128
    options: dict[str, Any] = field(default_factory=dict)


class TaskType(ABC):
    """How one kind of task becomes features, a model head, predictions and metric inputs.

    Implementations are stateless and constructed with no arguments. Records passed in are
    plain dicts whose keys are the task type's canonical field names (see ``fields``); the core
    maps source columns onto them using the spec's field mapping.
    """

    #: Canonical record fields this task type reads (documented in ``stilts tasks show``).
    fields: tuple[str, ...] = ()
    #: Fields that may be absent from a source; they default to ``""`` (e.g. a question).
    optional_fields: tuple[str, ...] = ()
    #: True when records carry a ``label`` from the spec's ``labels`` list (names or indices).
    uses_label_list: bool = False
    #: False for tasks evaluated without training (retrieval): the pipeline skips target training.
    trainable: bool = True
    #: True when evaluation also reads the ``tune`` split of the same language (BUCC's threshold);
    #: ``predict`` then receives it as ``tune=records``.
    tune_split: bool = False
    #: True when the evaluations of one model in different languages compute a large common part
    #: that a worker evaluating them in turn computes once (LAReQA's multilingual candidate pool,
    #: remembered by :meth:`ModelHandle.embed`); the cost model then prices each at its share.
    eval_work_shared: bool = False
    #: JSON Schema for the spec's ``task_options`` object (validated with the spec), or None.
    options_schema: dict[str, Any] | None = None
    #: Free-text fields a translation provider may translate for translate-train (strings or
    #: lists of strings). Empty: labels are tied to tokens or spans, so the records cannot be
    #: machine-translated (QA, tagging); such tasks need translated files with aligned labels.
    translatable_fields: tuple[str, ...] = ()
    #: What each canonical field must hold, checked for every record of every local split a run
    #: reads before any training (:mod:`harness.record_checks`): ``"text"`` a string, ``"texts"``
    #: a list of strings, ``"tags"`` a list of the spec's labels (names or indices) as long as the
    #: record's ``tokens``, ``"answers"`` ``{"text": [str], "answer_start": [int >= 0]}`` of equal
    #: length. Fields not listed are not checked; every string anywhere must be free of NUL bytes.
    field_kinds: ClassVar[Mapping[str, str]] = {}

    @abstractmethod
    def head(self, task: TaskSpec) -> Head:
        """The model head this task needs."""

    def collator(self, task: TaskSpec, tokenizer: Any) -> Any:
        """Pads a list of features from :meth:`encode` into a batch (default: dynamic padding)."""
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer)

    def encode(self, task: TaskSpec, records: Sequence[dict], tokenizer: Any, max_length: int) -> list[dict]:
        """Tokenise records into training features (unpadded; must include ``labels``)."""
        raise NotImplementedError(f"{type(self).__name__} does not support training")

    @abstractmethod
    def predict(self, task: TaskSpec, model: ModelHandle, records: Sequence[dict], settings: RunSettings) -> Any:
        """Predictions for ``records`` in whatever form this task type's metrics take.

        ``model.model`` / ``model.tokenizer`` load lazily; ``model.embed`` gives sentence vectors.
        """

    def derive_labels(self, records: Sequence[dict]) -> list[str]:
        """The label list found in training records, for specs with ``"labels": "from_train"``
        (open tag sets such as CCG supertags). Task types that cannot derive labels keep this."""
        raise NotImplementedError(f"{type(self).__name__} cannot derive labels from training data")

    @abstractmethod
    def references(self, task: TaskSpec, records: Sequence[dict]) -> Any:
        """Gold references for ``records`` in the form this task type's metrics take."""

    def cost_units(self, record: dict) -> int:
        """How much work one record is for the cost model (:mod:`harness.cost_model`), in the
        units its speeds are measured in: 1 (one example) by default; a task type whose records
        are whole corpora counts their sentences (bitext mining).

        :param record: one record of a local split, with the canonical fields.
        """
        return 1


class ModelAdapter(ABC):
    """How an encoder is loaded, prepared for training and saved.

    The training method (``{"kind": "full"}`` or ``{"kind": "lora", "r": 8, ...}``) is passed as
    a dict so that adding methods never changes this interface.
    """

    @abstractmethod
    def load_tokenizer(self, ref: ModelRef) -> Any:
        """The tokenizer for ``ref``."""

    @abstractmethod
    def load_model(self, ref: ModelRef, head: Head) -> Any:
        """The model with ``head`` on top. A checkpoint saved without that head gets a fresh one."""

    def prepare_for_training(self, model: Any, method: dict[str, Any]) -> Any:
        """Wrap the model for the training method (full fine-tuning: unchanged)."""
        kind = method.get("kind", "full")
        if kind != "full":
            raise NotImplementedError(f"{type(self).__name__} does not support method {kind!r}")
        return model

    def finish_training(self, model: Any, method: dict[str, Any]) -> Any:
        """Undo ``prepare_for_training``'s wrapping after training: a plain model the next stage,
        ``save`` and evaluation can use (LoRA: adapters merged into the weights)."""
        return model

    def share_encoder(self, models: Sequence[Any]) -> None:
        """Make every model in ``models`` use the encoder of ``models[0]`` (multi-task training:
        one encoder, a head per task); output embeddings tied to the input embeddings stay tied."""
        raise NotImplementedError(f"{type(self).__name__} does not support multi-task training")

    @abstractmethod
    def save(self, model: Any, tokenizer: Any, out_dir: Path, *, encoder_only: bool) -> None:
        """Save to ``out_dir`` so ``load_model(ModelRef(str(out_dir)), ...)`` reloads it.

        ``encoder_only`` drops the task head (what the next stage of X-STILTs starts from).
        """

    @abstractmethod
    def embed(self, handle: ModelHandle, sentences: Sequence[str], settings: RunSettings) -> Any:
        """L2-normalised sentence embeddings (a float tensor, one row per sentence).

        ``settings.options`` carries ``layer`` (int, ``"middle"`` or ``"last"``) and
        ``pooling`` (``"mean"`` or ``"cls"``).
        """

    @abstractmethod
    def fingerprint(self, ref: ModelRef) -> str:
        """A string that changes whenever the model's weights, config or tokenizer change (used
        in stage keys): a digest of the bytes of a local folder, or the commit a hub revision
        resolves to. Names, sizes and dates are not enough: two checkpoints of the same size
        would share every stage built on them."""


class ModelHandle:
    """A model for one head, loaded on first use through its adapter.

    ``frozen``: the weights never change while this handle lives (evaluation only), so
    :meth:`embed` may remember what it embedded: evaluating LAReQA in 11 languages embeds the
    13,014-sentence pool once instead of 11 times. A training handle (weights updated in place
    between dev evaluations) is never frozen.
    """

    #: A frozen handle remembers the last few embedding calls of at most this many sentences
    #: (a LAReQA pool; not BUCC's corpora of 10^5 sentences, which would hold gigabytes).
    MEMO_MAX_SENTENCES = 50_000
    MEMO_ENTRIES = 4

    def __init__(self, adapter: ModelAdapter, ref: ModelRef, head: Head, *, frozen: bool = False):
        self.adapter, self.ref, self.head, self.frozen = adapter, ref, head, frozen
        self._embedded: dict[str, Any] = {}

    @cached_property
    def tokenizer(self) -> Any:
        return self.adapter.load_tokenizer(self.ref)

    @cached_property
    def model(self) -> Any:
        return self.adapter.load_model(self.ref, self.head)

    def use_model(self, model: Any) -> None:
        """Replace the loaded model (e.g. by the wrapped one a training method returned)."""
        self.__dict__["model"] = model

    def embed(self, sentences: Sequence[str], settings: RunSettings) -> Any:
        """The adapter's embeddings of ``sentences``; remembered per (sentences, settings) on a
        frozen handle."""
        if not self.frozen or len(sentences) > self.MEMO_MAX_SENTENCES:
            return self.adapter.embed(self, sentences, settings)
        from harness.tasks import content_hash

        key = content_hash([list(sentences), vars(settings)], length=32)
        if key in self._embedded:
            self._embedded[key] = self._embedded.pop(key)  # most recently used last
        else:
            self._embedded[key] = self.adapter.embed(self, sentences, settings)
            while len(self._embedded) > self.MEMO_ENTRIES:
                self._embedded.pop(next(iter(self._embedded)))
        return self._embedded[key]


@dataclass(frozen=True)
class FileRoles:
    """The files a multi-file format reads for one split: a local source's ``files`` entry
    ``{"eval": {ROLE: PATH, ...}}``. Checked when a spec or an experiment's source override is
    loaded, before anything is read.

    ``required``: roles every split must name. ``optional``: further roles it may name.
    ``other_roles``: None when no other role is allowed, else what other role names are (e.g.
    ``"a language code"``, ``"a record key"``), each then accepted. ``minimum``: the fewest roles a
    split names. ``plain_path``: a plain path (or list of paths) is accepted as well, as role
    ``"path"``.
    """

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    other_roles: str | None = None
    minimum: int = 0
    plain_path: bool = False


class DataFormat(ABC):
    """Reads a local file format (tsv, jsonl, squad-json, conllu, aligned lines ...) into records."""

    #: JSON Schema for a local source's ``options`` object, validated with the task spec (and with
    #: an experiment's source override) before anything is read, or None (options not checked).
    #: Give it ``"additionalProperties": false`` so that a misspelt option is an error with a
    #: near-name hint; a format without options uses ``{"type": "object", "additionalProperties": false}``.
    options_schema: dict[str, Any] | None = None
    #: None: one file per split (a path, or a list of paths read one after another). A
    #: :class:`FileRoles`: the roles a split's ``{role: path}`` entry names (bucc: source, target
    #: and optionally gold); checked when the spec is loaded.
    file_roles: FileRoles | None = None

    @abstractmethod
    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Yield one dict per record. ``files`` maps a role to a path; single-file formats use
        the role ``"path"``; multi-file formats (aligned lines) name their roles."""

    def record_keys(self, roles: Sequence[str], options: Mapping[str, Any]) -> frozenset[str] | None:
        """The keys every record of a split has, when the spec alone says (tsv's ``columns``,
        aligned lines' roles), else None (the default: only the data knows, e.g. jsonl). When
        known, a field mapping that names another key is refused when the spec (or an experiment's
        source override) is loaded, not after training.

        :param roles: the roles the split's ``files`` entry names (``("path",)`` for one file).
        :param options: the source's ``options``, already valid against :attr:`options_schema`.
        """
        return None


class ModelSource(ABC):
    """Turns a model reference into a local transformers folder (``"model": {"source": NAME}``).

    Implementations are stateless and constructed with no arguments. ``model`` is always the
    experiment's ``model`` object (``id`` names the model within the source).
    """

    @abstractmethod
    def identity(self, model: dict[str, Any]) -> dict[str, Any]:
        """What determines the folder's content (e.g. the package version and the sha256 of the
        file converted): the cache key of the materialised folder. Must not write anything."""

    @abstractmethod
    def missing(self, model: dict[str, Any]) -> str | None:
        """Why the folder cannot be built on this machine (e.g. the package is not installed),
        or None when it can. Checked by the offline preflight before anything runs."""

    @abstractmethod
    def materialize(self, model: dict[str, Any], out_dir: Path) -> None:
        """Write the transformers folder (config, weights, tokenizer, a model card stating
        provenance and licence) at ``out_dir``, which does not exist yet. stilts passes a
        temporary path and renames it into its cache, so this method need not be atomic."""


class TranslationProvider(ABC):
    """Machine-translates texts for translate-train (training on translated intermediate data)."""

    @abstractmethod
    def translate(self, texts: Sequence[str], source: str, target: str, options: dict[str, Any]) -> list[str]:
        """One translation per text, in order.

        :param texts: the distinct texts to translate (at most one cache chunk of them).
        :param source: the texts' language code (the task's training language, ``en``).
        :param target: the language code to translate into.
        :param options: the experiment's ``translate.options``; where :meth:`model_for` names a
            model, ``model`` is replaced by the pinned copy stilts resolved (a local folder, or
            the hub id with ``revision`` set to its 40-hex commit), so what is read is exactly
            what the stage key names.
        """

    def fingerprint(self, options: dict[str, Any]) -> str:
        """Identifies the translations this provider would give with ``options`` (cache key),
        apart from the model :meth:`model_for` names, whose commit or content digest stilts adds.

        :param options: the experiment's ``translate.options``.
        """
        return json.dumps(options, sort_keys=True)

    def model_for(self, options: dict[str, Any], source: str, target: str) -> tuple[str, str | None] | None:
        """The model this provider translates ``source`` into ``target`` with: ``(hub id or local
        folder, the revision asked for)``; None when it reads no model (the default).

        stilts pins a hub model to a commit (lock file, mirror or hub, as it does the experiment's
        model), puts that commit (or a local folder's content digest) into the stage keys and the
        translation cache key, records it with ``stilts lock``, and passes the pinned copy to
        :meth:`translate` as ``options["model"]``.

        :param options: the experiment's ``translate.options``.
        :param source: the source language code.
        :param target: the target language code.
        """
        return None


class Metric(ABC):
    """Scores predictions against references. Must match the task's official scorer exactly."""

    #: Every score key :meth:`compute` can return, mapped to its direction: ``True`` when a larger
    #: value is better, ``False`` when a smaller one is (perplexity), ``None`` for counts and
    #: diagnostics that must never drive model selection (``n``, a tuned threshold). Model
    #: selection reads the direction of the task's main metric from here (lm-eval's
    #: ``higher_is_better``); a key missing from it cannot be a task's ``main_metric``.
    higher_is_better: ClassVar[Mapping[str, bool | None]] = {}
    #: The values each score key can take, ``(lowest, highest)`` (None: unbounded on that side),
    #: e.g. ``{"accuracy": (0, 100), "perplexity": (1, None)}``. Every result is checked against
    #: them before it is written, so a broken metric or a hand-edited score is refused, not
    #: published. Keys not listed are only required to be finite.
    value_ranges: ClassVar[Mapping[str, tuple[float | None, float | None]]] = {}

    @abstractmethod
    def compute(self, predictions: Any, references: Any, language: str | None = None) -> dict[str, float]:
        """Scores by name. The metric's own name must be one of the keys (the headline value).

        ``language`` is the evaluation language, for scorers that normalise per language (MLQA).
        """

    def unit_statistics(self, predictions: Any, references: Any, language: str | None = None) -> Units | None:
        """Per-example statistics of the headline score, for paired bootstrap intervals
        (:mod:`harness.units`), or None when the score does not decompose over examples.

        ``predictions``, ``references`` and ``language`` are exactly what :meth:`compute` gets.
        The rows must be in the order of ``references``, and their sums, combined by the named
        rule, must reproduce the metric's own headline value (stilts checks this and drops the
        statistics, with a warning, when they do not). The default has none.
        """
        return None


def score_direction(metrics: Sequence[Metric], key: str) -> bool:
    """True when a larger ``key`` score is better, as the metric producing ``key`` declares it.

    Raises ``ValueError`` when no metric declares ``key`` or it is declared without a direction
    (a count such as ``n``): such a key cannot select a model.
    """
    for metric in metrics:
        declared = metric.higher_is_better
        if key in declared:
            direction = declared[key]
            if direction is None:
                raise ValueError(f"score {key!r} of {type(metric).__name__} has no direction (a count or diagnostic)")
            return bool(direction)
    names = ", ".join(type(m).__name__ for m in metrics) or "no metric"
    raise ValueError(f"score {key!r} is not declared in higher_is_better by {names}")
