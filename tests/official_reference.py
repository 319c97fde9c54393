"""Validation against the carriers' own OpenAPI documents kept in tests/fixtures/official/ (SOURCES.md there).

`problems(request)` finds the operation the request calls (by method and path
template) and checks its JSON body, query parameters and headers against the
operation's schema with `openapi-schema-validator` (OpenAPI 3.0 on top of
`jsonschema`): required fields, types, formats, lengths, patterns, enums,
bounds and `multipleOf` decimals. Answers are checked the same way by status.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from openapi_schema_validator import OAS30Validator, OAS31Validator, oas30_format_checker, oas31_format_checker

from adapters.http import OutboundRequest

OFFICIAL = Path(__file__).parent / "fixtures" / "official"
DOCUMENTS = {
    "dhl_express": ["dhl_express"],
    "fedex": ["fedex/ship", "fedex/pickup", "fedex/track"],
    "ups": ["ups/shipping", "ups/pickup", "ups/tracking"],
}


# Where an official document contradicts itself, its own sample wins; each erratum is proven by
# test_official_samples_prove_the_errata (the document's sample breaks the printed rule, meets the corrected one).
ERRATA: dict[tuple[str, str, str], tuple[dict[str, Any], str]] = {
    ("ups/pickup", "PickupCreationRequest_PickupDateInfo", "PickupDate"): (
        {"minLength": 8, "maxLength": 8},
        "Pickup.yaml prints maxLength 4 for PickupDate, but describes it as yyyyMMdd and its own samples send "
        "'20221214'",
    ),
    ("ups/pickup", "PickupCreationRequest_TotalWeight", "Weight"): (
        {"minLength": 1, "maxLength": 6, "pattern": r"^[0-9]{1,4}(\.[0-9])?$"},
        "Pickup.yaml prints minLength 6 for Weight, but says 'One decimal digit is allowed. Example: 10.9' and its "
        "own samples send '5.5'",
    ),
}


def printed(folder: str) -> dict[str, Any]:
    """The document as published (facts extracted by scripts/extract_official_schemas.py)."""
    return json.loads((OFFICIAL / folder / "openapi.json").read_text())


@cache
def document(folder: str) -> dict[str, Any]:
    """The document with its proven errata corrected."""
    doc = printed(folder)
    for (where, schema, field), (correction, _) in ERRATA.items():
        if where == folder:
            doc["components"]["schemas"][schema]["properties"][field].update(correction)
    return doc


def sample(folder: str, name: str) -> Any:
    return json.loads((OFFICIAL / folder / "samples" / name).read_text())


def samples(folder: str, pattern: str = "*") -> list[Path]:
    return sorted((OFFICIAL / folder / "samples").glob(pattern))


def _template(path: str) -> re.Pattern[str]:
    return re.compile(".*" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")


def operation(carrier: str, method: str, url: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(folder, the path item, the operation) of the official document that `method url` calls."""
    path = urlsplit(url).path
    found = [
        (len(template), folder, item)
        for folder in DOCUMENTS[carrier]
        for template, item in document(folder)["paths"].items()
        if method.lower() in item and _template(template).match(path)
    ]
    if not found:
        raise AssertionError(f"{method} {path} is no operation of {carrier}'s official documents")
    _, folder, item = max(found, key=lambda entry: entry[0])
    return folder, item, item[method.lower()]


def _validator(folder: str, schema: dict[str, Any], as_printed: bool = False) -> OAS30Validator | OAS31Validator:
    """OpenAPI 3.0 documents (draft-4 based) or 3.1 ones (UPS Track Alert: JSON Schema 2020-12, `const`)."""
    doc = printed(folder) if as_printed else document(folder)
    root = {**schema, "components": doc.get("components", {})}
    if str(doc.get("openapi", "")).startswith("3.1"):
        return OAS31Validator(root, format_checker=oas31_format_checker)
    return OAS30Validator(root, format_checker=oas30_format_checker)


def schema_problems(folder: str, schema: dict[str, Any], value: Any, where: str, as_printed: bool = False) -> list[str]:
    """One line per error; inside oneOf/anyOf the deepest alternative's error, which names the field."""
    found = []
    for error in _validator(folder, schema, as_printed).iter_errors(value):
        while error.context:
            error = max(error.context, key=lambda sub: len(sub.absolute_path))
        found.append(f"{where}/{'/'.join(map(str, error.absolute_path))}: {error.message}"[:400])
    return found


def _parameter(folder: str, parameter: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in parameter:
        return document(folder)["components"]["parameters"][parameter["$ref"].split("/")[-1]]
    return parameter


def _typed(text: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "boolean":
        return {"true": True, "false": False}.get(text, text)
    if kind in {"integer", "number"}:
        try:
            return int(text) if kind == "integer" else float(text)
        except ValueError:
            return text
    return text


def problems(carrier: str, request: OutboundRequest) -> list[str]:
    """Every way `request` departs from the official document; empty when it validates."""
    folder, item, op = operation(carrier, request.method, request.url)
    found: list[str] = []
    query = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
    headers = {k.lower(): v for k, v in request.headers.items()}
    for raw in [*item.get("parameters", []), *op.get("parameters", [])]:
        parameter = _parameter(folder, raw)
        place, name = parameter["in"], parameter["name"]
        values = query if place == "query" else headers if place == "header" else None
        if values is None:
            continue
        key = name.lower() if place == "header" else name
        if key not in values:
            if parameter.get("required") and not (place == "header" and key in {"authorization", "content-type"}):
                found.append(f"{place} {name}: required and missing")
            continue
        schema = parameter.get("schema") or {}
        found += schema_problems(folder, schema, _typed(values[key], schema), f"{place} {name}")
    body = op.get("requestBody")
    if body is not None:
        if request.json_body is None:
            if body.get("required"):
                found.append("body: required and missing")
        else:
            schema = body["content"]["application/json"]["schema"]
            found += schema_problems(folder, schema, request.json_body, "body")
    return found


def answer_problems(carrier: str, method: str, url: str, status: int, body: Any) -> list[str]:
    """How an answer departs from the document's schema for that status (used to prove samples are genuine)."""
    folder, _, op = operation(carrier, method, url)
    answer = op["responses"].get(str(status)) or op["responses"].get("default")
    if answer is None:
        return [f"status {status} is not documented"]
    content = answer.get("content") or {}
    media = content.get("application/json") or next(iter(content.values()), None)
    if media is None:
        return []
    return schema_problems(folder, media["schema"], body, f"answer {status}")
