"""JSON Schemas shipped with stilts and validation that says exactly what is wrong and where.

Every problem is reported with the file, the JSON pointer, the bad value and what was expected;
unknown keys get a near-name hint ("did you mean 'languages'?").

Spec, experiment and result files are untrusted input. :func:`read_json` reads only regular files
of at most :data:`MAX_JSON_BYTES`, refuses bytes that are not UTF-8 (a UTF-8 byte order mark is
accepted and dropped), nesting deeper than :data:`MAX_JSON_DEPTH`, duplicate keys and the
non-standard ``NaN``/``Infinity`` literals, each as a :class:`SpecError` naming the file and,
where it can, the line and the JSON pointer. Nothing read is ever executed.
"""

from __future__ import annotations

import codecs
import copy
import hashlib
import json
import json.decoder
import json.scanner
import math
import os
import re
import stat
from collections import defaultdict
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend

from harness.errors import SpecError, SpecIssue, near_names

SCHEMAS = ("task_spec", "experiment", "result", "lock")

#: Largest JSON file read (spec, experiment or result); larger files are refused before reading.
MAX_JSON_BYTES = 50 * 1024 * 1024
#: Deepest nesting of arrays and objects accepted (the shipped schemas need fewer than 10 levels).
MAX_JSON_DEPTH = 64
#: Most issues reported for values the schema cannot see (non-finite numbers, lone surrogates).
_MAX_VALUE_ISSUES = 50

_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'  # a JSON string literal (escapes included)
_BRACKETS = re.compile(_STRING + r"|[\[\]{}]", re.DOTALL)
#: bytes.translate's deletion set that keeps only the bracket bytes ``[]{}``.
_NOT_BRACKET_BYTES = bytes(set(range(256)) - set(b"[]{}"))
#: A number literal that float() could turn into infinity: an exponent of 3+ digits or 300+ digits.
_HUGE_NUMBER = re.compile(r"[0-9][eE]\+?[0-9]{3}|[0-9]{300}")
#: What :func:`_may_overflow` screens for, in two cheap steps: "e"/"E" before 3 digits (a literal
#: first character lets the regex engine skip ahead), and a run of 300 ASCII digits (found as a
#: substring once every digit byte is mapped to ``0`` and every other byte to a space).
_EXPONENTS = (re.compile(r"e\+?[0-9]{3}"), re.compile(r"E\+?[0-9]{3}"))
_DIGITS_AS_ZERO = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_DIGIT_RUN = b"0" * 300
_SURROGATE = re.compile("[\ud800-\udfff]")


# -- schemas -----------------------------------------------------------------------------------
def _schema_file(name: str) -> dict[str, Any]:
    text = resources.files("harness.specs").joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _schema_names_by_file() -> dict[str, str]:
    """``"task-spec-1.json"`` -> ``"task_spec"`` (the last segment of each shipped schema's $id)."""
    return {_schema_file(name)["$id"].rsplit("/", 1)[-1]: name for name in SCHEMAS}


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The shipped schema ``name`` (one of :data:`SCHEMAS`), self-contained.

    Schemas share definitions: the experiment's source overrides and the result's names use the
    task spec's ``$defs`` (``"$ref": "task-spec-1.json#/$defs/sources"``). Those definitions are
    copied in here under ``$defs/<schema>.<def>`` so that every validator and generator sees one
    document with local references only.
    """
    schema = _schema_file(name)
    files = _schema_names_by_file()
    defs = schema.setdefault("$defs", {})
    pending: list[tuple[str, str]] = []

    def rewrite(node: Any, owner: str) -> Any:
        if isinstance(node, dict):
            out = {key: rewrite(value, owner) for key, value in node.items()}
            ref = out.get("$ref")
            if isinstance(ref, str):
                target, _, fragment = ref.partition("#")
                other = files.get(target) if target else owner
                if other is None:
                    raise ValueError(f"schema {name}: unresolvable $ref {ref!r}")
                if other != name:
                    def_name = fragment.removeprefix("/$defs/")
                    if "/" in def_name or not fragment.startswith("/$defs/"):
                        raise ValueError(f"schema {name}: $ref {ref!r} must point at another schema's $defs entry")
                    pending.append((other, def_name))
                    out["$ref"] = f"#/$defs/{other}.{def_name}"
            return out
        if isinstance(node, list):
            return [rewrite(value, owner) for value in node]
        return node

    schema = rewrite(schema, name)
    defs = schema.setdefault("$defs", {})
    while pending:
        other, def_name = pending.pop()
        key = f"{other}.{def_name}"
        if key not in defs:
            defs[key] = rewrite(copy.deepcopy(_schema_file(other)["$defs"][def_name]), other)
    return schema


def _is_integer(_checker: Any, instance: Any) -> bool:
    # JSON Schema counts 2.0 as an integer; stilts does not (range(2.0) and seeds need an int)
    return isinstance(instance, int) and not isinstance(instance, bool)


#: Draft 2020-12, except that ``integer`` means a JSON integer literal (``1``, not ``1.0``).
StiltsValidator = extend(
    Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer)
)


# -- reporting ---------------------------------------------------------------------------------
def pointer_segment(part: Any) -> str:
    """One JSON pointer segment (RFC 6901: ``~`` -> ``~0``, ``/`` -> ``~1``)."""
    return str(part).replace("~", "~0").replace("/", "~1")


def _pointer(path: Any) -> str:
    return "".join("/" + pointer_segment(part) for part in path)


def _printable(text: str) -> str:
    """``text`` with lone surrogates escaped, so that printing it can never fail."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8") if _SURROGATE.search(text) else text


def short_value(value: Any, limit: int = 80) -> str:
    """``value`` as an error message shows it: JSON (a string in quotes), printable, at most ``limit`` characters."""
    if isinstance(value, str):
        text = repr(value if len(value) <= limit else value[:limit])
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=repr)
        except (ValueError, RecursionError):
            text = repr(type(value).__name__)
    text = _printable(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(schema: Any) -> str:
    """What one schema (a branch of oneOf/anyOf) accepts, in words."""
    if not isinstance(schema, dict):
        return "a value"
    if "description" in schema and len(schema["description"]) <= 120:
        return schema["description"]
    if "const" in schema:
        return f"exactly {json.dumps(schema['const'])}"
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    if "$ref" in schema:
        return "a " + schema["$ref"].rsplit("/", 1)[-1].rsplit(".", 1)[-1].replace("_", " ")
    kinds = schema.get("type", "value")
    return "a value of type " + (" or ".join(kinds) if isinstance(kinds, list) else kinds)


def _constraint(error: ValidationError) -> str:
    """What a failed length/size/pattern keyword wanted (the schema's description when it has one)."""
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    words = {
        "pattern": f"a string matching {error.validator_value}",
        "minLength": f"a string of at least {error.validator_value} character(s)",
        "maxLength": f"a string of at most {error.validator_value} character(s)",
        "minimum": f"a number >= {error.validator_value}",
        "maximum": f"a number <= {error.validator_value}",
        "exclusiveMinimum": f"a number > {error.validator_value}",
        "exclusiveMaximum": f"a number < {error.validator_value}",
        "minItems": f"a list of at least {error.validator_value} item(s)",
        "maxItems": f"a list of at most {error.validator_value} item(s)",
        "uniqueItems": "a list without repeated items",
        "minProperties": f"an object with at least {error.validator_value} key(s)",
        "maxProperties": f"an object with at most {error.validator_value} key(s)",
    }[error.validator]
    if description and error.validator in ("pattern", "minLength", "maxLength"):
        return f"{words}: {description}" if error.validator != "pattern" else description
    return words


def _expected(error: ValidationError) -> list[tuple[str, str, str]]:
    """(pointer, value, expected) triples for one jsonschema error (unknown keys split out)."""
    pointer = _pointer(error.absolute_path)
    validator, value = error.validator, error.validator_value
    if validator == "additionalProperties" and value is False and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        out = []
        for key in error.instance:
            if key in allowed or any(re.search(p, key) for p in error.schema.get("patternProperties", {})):
                continue
            hint = near_names(key, allowed, n=1)
            expected = f"one of the known keys ({', '.join(allowed)})" if allowed else "no keys here"
            if hint:
                expected = f"a known key; did you mean {hint[0]!r}?"
            out.append((f"{pointer}/{pointer_segment(key)}", f"unknown key {short_value(key)}", expected))
        return out
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [(pointer, "an object without it", f"required key {missing!r}")]
    if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
        # a key that its object's propertyNames refuses: point at the key itself
        key = error.instance
        expected = _constraint(error) if validator in _CONSTRAINTS else _expected_value(error)
        return [(f"{pointer}/{pointer_segment(key)}", f"the key {short_value(key)}", "a key that is " + expected)]
    if validator in ("enum", "const", "type"):
        return [(pointer, short_value(error.instance), _expected_value(error))]
    if validator in ("oneOf", "anyOf"):
        if error.context:
            by_branch: dict[Any, list[ValidationError]] = defaultdict(list)
            for sub in error.context:
                by_branch[sub.relative_schema_path[0]].append(sub)
            # the branch whose type fits the value is the one the author meant: report its errors
            fitting = [
                subs
                for subs in by_branch.values()
                if not any(s.validator in ("type", "const", "enum") and not s.relative_path for s in subs)
            ]
            if len(fitting) == 1:
                return [triple for sub in fitting[0] for triple in _expected(sub)]
        if isinstance(error.schema, dict) and error.schema.get("description"):
            return [(pointer, short_value(error.instance), error.schema["description"])]
        branches = value if isinstance(value, list) else []
        word = "exactly one of" if validator == "oneOf" and not error.context else "one of"
        return [(pointer, short_value(error.instance), f"{word}: " + "; ".join(_describe(b) for b in branches))]
    if validator in _CONSTRAINTS:
        return [(pointer, short_value(error.instance), _constraint(error))]
    return [(pointer, short_value(error.instance), _expected_value(error))]


_CONSTRAINTS = (
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
)


def _expected_value(error: ValidationError) -> str:
    """What was expected, for keywords without a special message (enum, const, type, the rest)."""
    if error.validator == "enum":
        return "one of " + ", ".join(json.dumps(v) for v in error.validator_value)
    if error.validator == "const":
        return f"exactly {json.dumps(error.validator_value)}"
    if error.validator == "type":
        kinds = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return "a value of type " + " or ".join(kinds)
    message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return _printable(message)


def finite_array(value: Any) -> np.ndarray | None:
    """``value`` as a 2-D numpy array (``np.asarray``'s integer or float dtype) when it is a
    non-empty list of equal-length lists of finite numbers (numpy checks it in C), else None."""
    if not isinstance(value, list) or not value or not isinstance(value[0], list):
        return None
    try:
        array = np.asarray(value)
    except ValueError:  # ragged
        return None
    if array.ndim == 2 and array.dtype.kind in "if" and bool(np.isfinite(array).all()):
        return array
    return None


def finite_matrix(value: Any) -> bool:
    """True for a non-empty list of equal-length lists of finite numbers (see :func:`finite_array`)."""
    return finite_array(value) is not None


def value_issues(data: Any, file: str, matrices: dict[int, np.ndarray] | None = None) -> list[SpecIssue]:
    """What JSON Schema cannot see: nesting deeper than :data:`MAX_JSON_DEPTH`, non-finite numbers
    (standard JSON has no NaN or Infinity), lone surrogates in strings, non-string keys.

    ``matrices``, when given, receives ``id(list) -> array`` (:func:`finite_array`) for every
    matrix found, so that later checks of the same ``data`` need not convert it again (the ids
    stay valid while ``data`` is alive and unchanged).
    """
    issues: list[SpecIssue] = []
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack and len(issues) < _MAX_VALUE_ISSUES:
        value, pointer, depth = stack.pop()
        if depth + 2 <= MAX_JSON_DEPTH:
            array = finite_array(value)
            if array is not None:  # rows of finite numbers (per-example statistics): checked in bulk
                if matrices is not None:
                    matrices[id(value)] = array
                continue
        if isinstance(value, (dict, list, tuple)):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                issues.append(
                    SpecIssue(
                        file,
                        pointer,
                        f"a value nested more than {MAX_JSON_DEPTH} levels deep",
                        f"at most {MAX_JSON_DEPTH} levels of nested arrays and objects",
                    )
                )
                continue
            if isinstance(value, dict):
                children = []
                for key, child in value.items():
                    if not isinstance(key, str):
                        issues.append(
                            SpecIssue(
                                file,
                                f"{pointer}/{pointer_segment(key)}",
                                f"a key of type {type(key).__name__}",
                                "a string key",
                            )
                        )
                    elif _SURROGATE.search(key):
                        issues.append(
                            SpecIssue(
                                file,
                                f"{pointer}/{pointer_segment(_printable(key))}",
                                "a key with a lone surrogate (an unpaired \\ud800-\\udfff escape)",
                                "valid Unicode text",
                            )
                        )
                    else:
                        children.append((child, f"{pointer}/{pointer_segment(key)}", depth))
            else:
                children = [(child, f"{pointer}/{i}", depth) for i, child in enumerate(value)]
            stack.extend(reversed(children))
        elif isinstance(value, float) and not math.isfinite(value):
            literal = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
            issues.append(SpecIssue(file, pointer, literal, "a finite number (standard JSON has no NaN or Infinity)"))
        elif isinstance(value, str) and _SURROGATE.search(value):
            issues.append(
                SpecIssue(
                    file,
                    pointer,
                    "a string with a lone surrogate (an unpaired \\ud800-\\udfff escape)",
                    "valid Unicode text",
                )
            )
    return issues


_VALIDATORS: dict[int, tuple[dict[str, Any], Any]] = {}


def _validator(schema: dict[str, Any]) -> Any:
    """A validator for ``schema``, made once per schema object (it caches resolved references)."""
    found = _VALIDATORS.get(id(schema))
    if found is None or found[0] is not schema:  # (the schema kept alive: its id stays its own)
        if len(_VALIDATORS) > 64:
            _VALIDATORS.clear()
        found = _VALIDATORS[id(schema)] = (schema, StiltsValidator(schema))
    return found[1]


def schema_issues(
    data: Any, schema: dict[str, Any], file: str, matrices: dict[int, np.ndarray] | None = None
) -> list[SpecIssue]:
    """Every problem with ``data`` against ``schema`` (and :func:`value_issues`, which fills
    ``matrices``), in document order."""
    found = value_issues(data, file, matrices)
    if any("levels deep" in issue.value for issue in found):
        return found  # validating it would only recurse; the nesting is the problem
    errors = sorted(_validator(schema).iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    issues = []
    string_checked: set[tuple[str, str]] = set()  # one of pattern/minLength/maxLength per value is enough
    for error in errors:
        for pointer, value, expected in _expected(error):
            if error.validator in ("pattern", "minLength", "maxLength"):
                if (pointer, value) in string_checked:
                    continue
                string_checked.add((pointer, value))
            issues.append(SpecIssue(file, _printable(pointer), _printable(value), _printable(expected)))
    seen = {(issue.pointer, issue.value) for issue in issues}
    return issues + [issue for issue in found if (issue.pointer, issue.value) not in seen]


# -- reading -----------------------------------------------------------------------------------
def _fail(file: str, value: str, expected: str, pointer: str = "") -> SpecError:
    return SpecError([SpecIssue(file, pointer, value, expected)])


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _read_bytes(path: Path, file: str) -> bytes:
    """The file's bytes: a regular file of at most :data:`MAX_JSON_BYTES`, checked before reading.

    The file is opened non-blocking and checked through its descriptor, so a FIFO or a device
    is refused without waiting on it, and nothing can be swapped in between check and read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _fail(file, "unreadable file", f"a readable file ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((word for test, word in _FILE_KINDS if test(info.st_mode)), "not a regular file")
            raise _fail(file, kind, "a regular JSON file")
        if info.st_size > MAX_JSON_BYTES:
            raise _fail(file, f"a file of {info.st_size} bytes", f"a JSON file of at most {MAX_JSON_BYTES} bytes")
        chunks, size = [], 0
        while size <= MAX_JSON_BYTES:
            try:
                chunk = os.read(fd, min(1 << 20, MAX_JSON_BYTES + 1 - size))
            except BlockingIOError:  # pragma: no cover - regular files never block
                continue
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_JSON_BYTES:  # it grew while being read
            raise _fail(
                file, f"a file of more than {MAX_JSON_BYTES} bytes", f"a JSON file of at most {MAX_JSON_BYTES} bytes"
            )
        return b"".join(chunks)
    except OSError as exc:
        raise _fail(file, "unreadable file", f"a readable file ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def _line_col(text: str | bytes, offset: int) -> tuple[int, int]:
    if isinstance(text, str):
        return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)
    return text.count(b"\n", 0, offset) + 1, offset - text.rfind(b"\n", 0, offset)


def _decode(raw: bytes, file: str) -> str:
    skipped = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0  # accepted and dropped
    try:
        return raw[skipped:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = skipped + exc.start
        line, col = _line_col(raw, offset)
        hint = ""
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in raw[:4]:
            hint = "; it looks like UTF-16: save it as UTF-8"
        raise _fail(
            file,
            f"byte 0x{raw[offset]:02x} at offset {offset} (line {line} column {col}), which is not UTF-8",
            f"a UTF-8 encoded JSON file{hint}",
        ) from None


def _find(text: str, pattern: str) -> int | None:
    """Offset of the first match of ``pattern`` outside JSON string literals."""
    for match in re.finditer(_STRING + "|(" + pattern + ")", text, re.DOTALL):
        if match.group(1) is not None:
            return match.start(1)
    return None


def _where(text: str, offset: int | None) -> str:
    if offset is None:
        return ""
    line, col = _line_col(text, offset)
    return f" at line {line} column {col}"


def _too_deep(text: str) -> int | None:
    """Offset of the first bracket nested deeper than :data:`MAX_JSON_DEPTH`, or None."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return None
    # the common case in bulk (numpy): strings out, then the running depth of the brackets
    brackets = re.sub(_STRING, "", text).encode("utf-8", "surrogatepass").translate(None, _NOT_BRACKET_BYTES)
    steps = np.frombuffer(brackets, dtype=np.uint8)
    if not len(steps) or np.cumsum(np.where((steps == 91) | (steps == 123), 1, -1)).max() <= MAX_JSON_DEPTH:
        return None
    depth = 0
    for match in _BRACKETS.finditer(text):
        token = match.group()
        if token[0] == '"':
            continue
        depth += 1 if token in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            return match.start()
    return None


def _may_overflow(text: str) -> bool:
    """True when ``text`` may hold a number literal that float() turns into infinity: whenever
    :data:`_HUGE_NUMBER` matches (a superset of it, found without trying the regex at every digit)."""
    if any(pattern.search(text) for pattern in _EXPONENTS):
        return True
    return len(text) >= 300 and _LONG_DIGIT_RUN in text.encode("utf-8", "surrogatepass").translate(_DIGITS_AS_ZERO)


class _BadLiteral(ValueError):
    def __init__(self, literal: str, pattern: str):
        super().__init__(literal)
        self.literal, self.pattern = literal, pattern


def _reject_constant(name: str) -> Any:
    raise _BadLiteral(name, r"-?Infinity|NaN")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):  # 1e999 parses to inf
        raise _BadLiteral(literal, r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?[eE][-+]?[0-9]+")
    return value


def _key_lines(text: str, key: str) -> list[int]:
    """The lines on which ``key`` appears as an object key (``"key":``), at most six."""
    token = re.compile(re.escape(json.dumps(key)) + r"[ \t\n\r]*:")
    lines = []
    for match in token.finditer(text):
        lines.append(text.count("\n", 0, match.start()) + 1)
        if len(lines) > 5:
            break
    if len(lines) < 2:  # written with escapes the pattern cannot see: say nothing rather than guess
        return []
    return lines


def _find_pointer(data: Any, target: Any) -> str:
    """JSON pointer of the container ``target`` (by identity) inside ``data``."""
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, pointer = stack.pop()
        if value is target:
            return pointer
        if isinstance(value, dict):
            stack.extend((child, f"{pointer}/{pointer_segment(key)}") for key, child in value.items())
        elif isinstance(value, list):
            stack.extend((child, f"{pointer}/{i}") for i, child in enumerate(value))
    return ""


def parse_json(text: str, file: str) -> Any:
    """Parse JSON text strictly: syntax errors, nesting deeper than :data:`MAX_JSON_DEPTH`,
    duplicate keys, ``NaN``/``Infinity`` and numbers too large for a float are
    :class:`SpecError` naming ``file``, the line and (for duplicate keys) the JSON pointer."""
    deep = _too_deep(text)
    if deep is not None:
        raise _fail(
            file,
            f"arrays/objects nested more than {MAX_JSON_DEPTH} levels deep{_where(text, deep)}",
            f"at most {MAX_JSON_DEPTH} levels of nesting",
        )
    duplicates: list[tuple[int, str, dict[str, Any]]] = []
    count = [0]

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs) and len(duplicates) < 10:
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    duplicates.append((count[0], key, obj))
                    break
                seen.add(key)
        count[0] += 1
        return obj

    try:
        finite = _finite_float if _may_overflow(text) else None  # float() per number only when needed
        data = json.loads(text, object_pairs_hook=hook, parse_constant=_reject_constant, parse_float=finite)
    except json.JSONDecodeError as exc:
        raise _fail(file, f"invalid JSON at line {exc.lineno} column {exc.colno}", exc.msg) from None
    except _BadLiteral as exc:
        where = _where(text, _find(text, exc.pattern))
        raise _fail(
            file,
            f"the number {exc.literal}{where}",
            "a finite number (standard JSON has no NaN or Infinity; write null or a string)",
        ) from None
    except RecursionError:  # pragma: no cover - _too_deep refuses such text first
        raise _fail(file, "arrays/objects nested too deeply", f"at most {MAX_JSON_DEPTH} levels of nesting") from None
    except ValueError as exc:  # e.g. an integer literal of more than 4300 digits
        where = _where(text, _find(text, r"-?[0-9]{1000,}"))
        raise _fail(
            file, f"a number that cannot be read{where} ({str(exc)[:120]})", "a number of sensible size"
        ) from None
    if duplicates:
        issues = []
        for _index, key, obj in duplicates:
            lines = _key_lines(text, key)
            where = f" (the key appears on lines {', '.join(map(str, lines))})" if lines else ""
            pointer = _printable(f"{_find_pointer(data, obj)}/{pointer_segment(key)}")
            issues.append(
                SpecIssue(file, pointer, f"the key {short_value(key)} again{where}", "each key at most once per object")
            )
        raise SpecError(issues)
    return data


def read_json(path: Path) -> Any:
    """Read and parse a JSON file; every problem is a :class:`SpecError` naming the file.

    Refused before reading: anything but a regular file (a directory, FIFO or device) and files
    over :data:`MAX_JSON_BYTES`. Then: bytes that are not UTF-8 (offset, line and column), and
    whatever :func:`parse_json` refuses. A UTF-8 byte order mark is dropped.
    """
    return read_json_and_digest(path)[0]


def read_json_and_digest(path: Path) -> tuple[Any, str]:
    """:func:`read_json`, and the sha256 of the very bytes it parsed."""
    raw = read_json_bytes(path)
    return parse_json_bytes(raw, str(path)), hashlib.sha256(raw).hexdigest()


def read_json_bytes(path: Path) -> bytes:
    """The bytes of a JSON file, read as :func:`read_json` reads them (a regular file of at most
    :data:`MAX_JSON_BYTES`, else a :class:`SpecError`)."""
    return _read_bytes(Path(path), str(path))


def parse_json_bytes(raw: bytes, file: str, known_valid: bool = False) -> Any:
    """Decode ``raw`` (UTF-8, a byte order mark dropped) and parse it with :func:`parse_json`.

    ``known_valid``: these very bytes passed :func:`parse_json` before (a memo of digests, see
    :mod:`harness.validated`, which is keyed by this module's code too), so the strict checks
    cannot find anything and are skipped: for such text the plain parser gives the same value.
    """
    text = _decode(raw, file)
    return json.loads(text) if known_valid else parse_json(text, file)


def validate_data(data: Any, schema_name: str, file: str) -> Any:
    """Validate already-loaded ``data``; raise :class:`SpecError` listing every problem."""
    issues = schema_issues(data, load_schema(schema_name), file)
    if issues:
        raise SpecError(issues)
    return data


def load_validated(path: Path, schema_name: str) -> Any:
    """Read and validate a JSON file against a shipped schema."""
    return validate_data(read_json(path), schema_name, str(path))
