"""JSON Schemas shipped with stilts and validation that says exactly what is wrong and where.

Every problem is reported with the file, the JSON pointer, the bad value and what was expected;
unknown keys get a near-name hint ("did you mean 'languages'?").
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from harness.errors import SpecError, SpecIssue, near_names

SCHEMAS = ("task_spec", "experiment", "result")


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The shipped schema ``name`` (one of :data:`SCHEMAS`)."""
    text = resources.files("harness.specs").joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _pointer(path: Any) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
            expected = f"one of the known keys ({', '.join(allowed)})"
            if hint:
                expected = f"a known key; did you mean {hint[0]!r}?"
            out.append((f"{pointer}/{key}", f"unknown key {key!r}", expected))
        return out
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [(pointer, "an object without it", f"required key {missing!r}")]
    if validator == "enum":
        return [(pointer, _short(error.instance), "one of " + ", ".join(json.dumps(v) for v in value))]
    if validator == "const":
        return [(pointer, _short(error.instance), f"exactly {json.dumps(value)}")]
    if validator == "type":
        kinds = value if isinstance(value, list) else [value]
        return [(pointer, _short(error.instance), "a value of type " + " or ".join(kinds))]
    if validator == "oneOf":
        return [(pointer, _short(error.instance), "a string or an object as the schema describes")]
    if validator == "propertyNames" and error.context:
        return [(pointer, _short(error.context[0].instance), "a key that is " + error.context[0].message.split(" is not ")[-1])]
    return [(pointer, _short(error.instance), error.message)]


def schema_issues(data: Any, schema: dict[str, Any], file: str) -> list[SpecIssue]:
    """Every problem with ``data`` against ``schema``, in document order."""
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    issues = []
    for error in errors:
        for pointer, value, expected in _expected(error):
            issues.append(SpecIssue(file, pointer, value, expected))
    return issues


def read_json(path: Path) -> Any:
    """Parse a JSON file; syntax errors name the file, line and column."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([SpecIssue(str(path), "", "unreadable file", f"a readable file ({exc.strerror})")]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(
            [SpecIssue(str(path), "", f"invalid JSON at line {exc.lineno} column {exc.colno}", exc.msg)]
        ) from None


def validate_data(data: Any, schema_name: str, file: str) -> Any:
    """Validate already-loaded ``data``; raise :class:`SpecError` listing every problem."""
    issues = schema_issues(data, load_schema(schema_name), file)
    if issues:
        raise SpecError(issues)
    return data


def load_validated(path: Path, schema_name: str) -> Any:
    """Read and validate a JSON file against a shipped schema."""
    return validate_data(read_json(path), schema_name, str(path))
