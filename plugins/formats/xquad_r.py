"""SQuAD-style JSON split into sentences, for answer-sentence retrieval (LAReQA / XQuAD-R).

XQuAD-R (github.com/google-research-datasets/lareqa) is XQuAD with each paragraph's sentences
added: ``sentence_breaks`` (``[start, end)`` character spans of ``context``) and ``sentences``.
Plain SQuAD files (the English training data) have no sentence breaks; their contexts are split
by :func:`split_sentences`, a small rule-based English splitter.

One record per question:
``{"id", "title", "question", "language", "query", "paragraph", "sentences", "answer_sentence", "context"}``

* ``sentences`` are the paragraph's sentences, ``context[start:end]`` for each break (XTREME-R
  takes them from ``sentence_breaks``, not from the ``sentences`` field; the two differ once in
  ``tr.json``). Records of one paragraph share the list.
* ``answer_sentence`` is the index of the sentence whose ``[start, end)`` contains the first
  answer's ``answer_start``, or ``None`` when no sentence does (a sentence-breaking error: XTREME-R
  skips such questions; they stay in the records so that row slices count every question of the
  file).
* ``paragraph`` is ``"<language>_<n>"``, ``n`` counting the file's paragraphs from 1 (XTREME-R's
  ``context_id``); candidate sentence ``i`` of it is ``"<paragraph>_<i>"``.

Files: every role names a language and its file (``{"en": "train-v1.1.json"}``; a plain path is
one file of language ``und``). For evaluation, the role ``questions`` names the query language's
file, which must also be one of the language roles: its questions are the queries
(``"query": true``) and every language's paragraphs form the pool. Records are then ordered by
question: each query, followed by the same question in the other languages (in role order), then
any question the query file lacks, so a row limit keeps whole parallel groups. Without
``questions`` every record is a query, in role and file order.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from harness import hookimpl
from harness.errors import DataError
from harness.interfaces import DataFormat, Entry, FileRoles
from plugins.formats.squad import answer_start, check_question, expect, json_kind, squad_paragraphs, squad_questions
from plugins.formats.textio import NO_OPTIONS

QUESTIONS_ROLE = "questions"
SINGLE_FILE_LANGUAGE = "und"

# A break candidate: sentence-final punctuation, optional closing quotes or brackets, whitespace,
# then an optional opening quote or bracket and an upper-case letter or a digit.
_BREAK = re.compile(r"""[.?!][)\]"'\u201d\u2019]*(\s+)(?=[(\["'\u201c\u2018]?[A-Z0-9])""")
# Words ending in "." that do not end a sentence (compared without the final "." and lower-cased).
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "rev",
        "fr",
        "msgr",
        "st",
        "sta",
        "sr",
        "jr",
        "lt",
        "gen",
        "col",
        "maj",
        "adm",
        "capt",
        "sgt",
        "rep",
        "gov",
        "sen",
        "pres",
        "e.g",
        "i.e",
        "eg",
        "ie",
        "vs",
        "v",
        "cf",
        "a.k.a",
        "approx",
        "al",
        "ca",
        "c",
        "b",
        "d",
        "r",
        "fl",
        "no",
        "nos",
        "vol",
        "pp",
        "p",
        "art",
        "sec",
        "ch",
        "op",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mt",
        "ft",
        "inc",
        "ltd",
        "co",
        "corp",
        "bros",
    ]
)
# Words that start a new sentence even after an abbreviation or an initial ("... in the U.S. The ...").
_OPENERS = re.compile(r"(?:The|This|That|These|It|In|However|Meanwhile)\b")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """``[start, end)`` spans of the sentences of an English ``text``, whitespace excluded.

    A sentence ends at ``.``, ``?`` or ``!`` (plus closing quotes or brackets) followed by
    whitespace and an upper-case letter or digit (optionally after an opening quote or bracket),
    unless the word ending in ``.`` is a common abbreviation (``Mr.``, ``Dr.``, ``e.g.``, ``Jan.``,
    ``St.`` ...), a capital initial (``J. K. Rowling``) or dotted capitals (``U.S.``), and the next
    word is not a common sentence opener (``The``, ``This``, ``It``, ``In``, ``However`` ...). These
    are the main rules of the sed-style splitter XTREME-R runs on SQuAD train (its
    ``third_party/processors/sb_sed.py``), with a shorter exception list: on the 240 English
    XQuAD-R paragraphs it reproduces the released ``sentence_breaks`` of 233 exactly.
    """
    cuts = [0]
    for match in _BREAK.finditer(text):
        if text[match.start()] == "." and not _OPENERS.match(text, match.end(1)):
            before = text[: match.start()].rsplit(None, 1)
            word = before[-1].lstrip("([\"'\u201c\u2018") if before else ""
            if word.lower() in _ABBREVIATIONS or re.fullmatch(r"(?:[A-Z]\.)*[A-Z]", word):
                continue
        cuts.append(match.end(1))
    cuts.append(len(text))
    spans = []
    for start, stop in itertools.pairwise(cuts):
        piece = text[start:stop]
        left = len(piece) - len(piece.lstrip())
        right = len(piece.rstrip())
        if right > left:
            spans.append((start + left, start + right))
    return spans


def answer_sentence(breaks: list[tuple[int, int]], answer_start: int) -> int | None:
    """Index of the first sentence with ``start <= answer_start < end`` (XTREME-R's rule), or None."""
    for index, (start, end) in enumerate(breaks):
        if start <= answer_start < end:
            return index
    return None


def read_language(path: Path, language: str) -> list[dict[str, Any]]:
    """The records of one SQuAD-style file (see the module docstring); ``query`` is False."""
    need = partial(expect, path)
    records: list[dict[str, Any]] = []
    # every paragraph counts, from 1, as XTREME-R numbers them
    for number, (article, where_p, paragraph) in enumerate(squad_paragraphs(path), start=1):
        title = article.get("title", "")
        context = paragraph.get("context")
        need(isinstance(context, str), f"{where_p}.context", "a string", context)
        if "sentence_breaks" in paragraph:
            breaks = _read_breaks(paragraph["sentence_breaks"], len(context), f"{path}: {where_p}.sentence_breaks")
        else:
            breaks = split_sentences(context)
        sentences = [context[start:end] for start, end in breaks]
        key = f"{language}_{number}"
        for where, qa in squad_questions(path, where_p, paragraph):
            check_question(path, where, qa)
            index = None
            if qa["answers"]:  # only the first answer counts (XTREME-R); none: unanswerable
                first = qa["answers"][0]
                need(isinstance(first, dict), f"{where}.answers[0]", "an object with answer_start", first)
                start = answer_start(
                    path, first.get("answer_start"), f"{where}.answers[0].answer_start", negative_strings=False
                )
                index = answer_sentence(breaks, start)
            records.append(
                {
                    "id": str(qa["id"]),
                    "title": title if isinstance(title, str) else str(title),
                    "question": qa["question"],
                    "language": language,
                    "query": False,
                    "paragraph": key,
                    "sentences": sentences,
                    "answer_sentence": index,
                    "context": context,
                }
            )
    return records


def _read_breaks(value: Any, length: int, where: str) -> list[tuple[int, int]]:
    if not isinstance(value, list):
        raise DataError(f"{where} is {json_kind(value)}; expected a list of [start, end] pairs")
    breaks = []
    for i, pair in enumerate(value):
        ok = (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in pair)
            and 0 <= pair[0] <= pair[1] <= length
        )
        if not ok:
            raise DataError(f"{where}[{i}] is {pair!r}; expected [start, end] with 0 <= start <= end <= {length}")
        breaks.append((pair[0], pair[1]))
    return breaks


class XquadR(DataFormat):
    """SQuAD-style JSON (with XQuAD-R's ``sentence_breaks`` when present) -> one record per
    question with its paragraph's sentences and the index of its answer sentence; ``files`` map
    languages (and ``questions``, the query language's file) to paths. See the module docstring."""

    options_schema = NO_OPTIONS
    file_roles = FileRoles(
        optional=(QUESTIONS_ROLE,), other_roles="a language code (that language's file)", minimum=1, plain_path=True
    )

    def read(self, files: dict[str, Path], options: dict[str, Any]) -> Iterator[dict[str, Any]]:
        roles = {SINGLE_FILE_LANGUAGE if role == "path" else role: path for role, path in files.items()}
        query_path = roles.pop(QUESTIONS_ROLE, None)
        if not roles:
            raise DataError(f"format 'xquad_r' needs one file per language besides {QUESTIONS_ROLE!r}; got {files}")
        by_language = {language: read_language(path, language) for language, path in roles.items()}
        if query_path is None:
            for records in by_language.values():
                for record in records:
                    record["query"] = True
                    yield record
            return
        matches = [lang for lang, path in roles.items() if Path(path).resolve() == Path(query_path).resolve()]
        if not matches:
            shown = ", ".join(f"{role}={path}" for role, path in roles.items())
            raise DataError(
                f"format 'xquad_r': the {QUESTIONS_ROLE!r} file {query_path} must also be one of the language "
                f"files of the pool ({shown})"
            )
        query_language = matches[0]
        others: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for language, records in by_language.items():
            if language == query_language:
                continue
            grouped: dict[str, list[dict[str, Any]]] = {}
            for record in records:
                grouped.setdefault(record["id"], []).append(record)
            others[language] = grouped
        for record in by_language[query_language]:
            record["query"] = True
            yield record
            for grouped in others.values():
                yield from grouped.pop(record["id"], [])
        for grouped in others.values():  # questions the query file does not have
            for records in grouped.values():
                yield from records


@hookimpl
def stilts_data_formats() -> list[Entry]:
    return [Entry("xquad_r", XquadR, "SQuAD-style JSON with sentence breaks (XQuAD-R / LAReQA)")]
