"""Keep the facts of a carrier's official OpenAPI document: structure, not prose, and its examples as samples.

Usage (run by hand when a carrier publishes a new version; nothing at run or test
time calls this):

    python scripts/extract_official_schemas.py OPENAPI_FILE OUT_DIR "METHOD PATH" ...

Writes OUT_DIR/openapi.json with only the named operations and the components
they reach, every schema reduced to what a validator checks (types, formats,
lengths, patterns, enums, required lists, bounds), and OUT_DIR/samples/*.json
with the document's own request and response examples. Prose (descriptions,
summaries) is dropped. The result is what tests/official validate against;
tests/fixtures/official/<carrier>/SOURCES.md says where the input came from.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

SCHEMA_KEYS = {
    "type", "format", "minLength", "maxLength", "pattern", "enum", "required", "properties", "items", "$ref",
    "allOf", "oneOf", "anyOf", "not", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    "minItems", "maxItems", "uniqueItems", "nullable", "additionalProperties", "readOnly", "writeOnly",
    "discriminator", "minProperties", "maxProperties", "const",
}  # fmt: skip


class Yaml12Ints(yaml.SafeLoader):
    """YAML whose only integers are decimal ones: UPS writes `descriptionCode: 021`, a code, not octal 17."""


Yaml12Ints.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:int"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Ints.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))


def load(path: Path) -> dict[str, Any]:
    """YAML or JSON; trailing tabs (which some published files carry) are not valid YAML and are dropped."""
    text = path.read_text(encoding="utf-8-sig").replace("\r", "")
    text = "\n".join(re.sub(r"[ \t]+$", "", line) for line in text.split("\n"))
    return json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=Yaml12Ints)


def schema_facts(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    kept: dict[str, Any] = {}
    for key, value in node.items():
        if key not in SCHEMA_KEYS:
            continue
        if key == "properties" and isinstance(value, dict):
            kept[key] = {name: schema_facts(sub) for name, sub in value.items()}
        elif key in {"items", "not"} or (key == "additionalProperties" and isinstance(value, dict)):
            kept[key] = schema_facts(value)
        elif key in {"allOf", "oneOf", "anyOf"}:
            kept[key] = [schema_facts(sub) for sub in value]
        else:
            kept[key] = value
    return kept


EXAMPLES: dict[str, Any] = {}  # the document's components/examples, for examples given by $ref


def content_facts(content: dict[str, Any], samples: dict[str, Any], prefix: str) -> dict[str, Any]:
    kept = {}
    for media, body in (content or {}).items():
        kept[media] = {"schema": schema_facts(body.get("schema", {}))}
        if "example" in body:
            samples[prefix] = body["example"]
        for name, example in (body.get("examples") or {}).items():
            if isinstance(example, dict) and "$ref" in example:
                example = EXAMPLES.get(example["$ref"].split("/")[-1], {})
            if isinstance(example, dict) and "value" in example:
                slug = re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")
                samples[f"{prefix}.{slug}"] = example["value"]
    return kept


def operation_facts(op: dict[str, Any], samples: dict[str, Any], slug: str) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    if "parameters" in op:
        kept["parameters"] = [
            p if "$ref" in p else {k: schema_facts(v) if k == "schema" else v for k, v in p.items()
                                   if k in {"name", "in", "required", "schema"}}
            for p in op["parameters"]
        ]  # fmt: skip
    if "requestBody" in op:
        body = op["requestBody"]
        kept["requestBody"] = {
            "required": body.get("required", False),
            "content": content_facts(body.get("content", {}), samples, f"{slug}.request"),
        }
    kept["responses"] = {
        status: {"content": content_facts(answer.get("content", {}), samples, f"{slug}.response.{status}")}
        for status, answer in (op.get("responses") or {}).items()
    }
    return kept


def example_only(doc: dict[str, Any]) -> dict[str, Any]:
    """Component schemas that are only an example (FedEx lists its sample payloads as `oneOf` alternatives)."""
    schemas = (doc.get("components") or {}).get("schemas") or {}
    return {
        f"#/components/schemas/{name}": node["example"]
        for name, node in schemas.items()
        if isinstance(node, dict) and "example" in node and not (set(node) & (SCHEMA_KEYS - {"type"}))
    }


def without(node: Any, dropped: set[str]) -> Any:
    """`node` with `oneOf`/`anyOf` alternatives that are only examples removed: they constrain nothing."""
    if isinstance(node, dict):
        kept = {}
        for key, value in node.items():
            if key in {"oneOf", "anyOf"} and isinstance(value, list):
                value = [v for v in value if not (isinstance(v, dict) and v.get("$ref") in dropped)]
            kept[key] = without(value, dropped)
        return kept
    if isinstance(node, list):
        return [without(value, dropped) for value in node]
    return node


def refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value)
            else:
                found |= refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= refs(value)
    return found


def main(source: str, out: str, operations: list[str]) -> None:
    doc = load(Path(source))
    EXAMPLES.update((doc.get("components") or {}).get("examples") or {})
    samples: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for spec in operations:
        method, path = spec.split(" ", 1)
        item = doc["webhooks"][path.removeprefix("webhook:")] if path.startswith("webhook:") else doc["paths"][path]
        slug = re.sub(r"[^a-z0-9]+", "_", f"{method} {path}".lower()).strip("_")
        entry = paths.setdefault(path, {})
        if "parameters" in item:
            entry["parameters"] = operation_facts({"parameters": item["parameters"]}, samples, slug)["parameters"]
        entry[method.lower()] = operation_facts(item[method.lower()], samples, slug)
    examples_only = example_only(doc)
    for ref in refs(paths) & set(examples_only):
        samples[f"example.{ref.split('/')[-1]}"] = examples_only[ref]
    paths = without(paths, set(examples_only))
    components: dict[str, Any] = {}
    pending = refs(paths)
    done: set[str] = set()
    while pending:
        ref = pending.pop()
        done.add(ref)
        section, name = ref.split("/")[2:4]
        node = doc["components"][section][name]
        if section == "schemas":
            node = schema_facts(node)
        elif section == "parameters":
            node = {k: schema_facts(v) if k == "schema" else v for k, v in node.items()
                    if k in {"name", "in", "required", "schema"}}  # fmt: skip
        elif section in {"requestBodies", "responses"}:
            node = {"content": content_facts(node.get("content", {}), samples, f"{section}.{name}")}
        for ref in refs(node) & set(examples_only):
            samples[f"example.{ref.split('/')[-1]}"] = examples_only[ref]
        node = without(node, set(examples_only))
        components.setdefault(section, {})[name] = node
        pending |= refs(node) - done - set(examples_only)
    info = {k: doc["info"][k] for k in ("title", "version", "x-release-date") if k in doc.get("info", {})}
    facts = {"openapi": doc.get("openapi", "3.0.0"), "info": info, "paths": paths, "components": components}
    target = Path(out)
    (target / "samples").mkdir(parents=True, exist_ok=True)
    (target / "openapi.json").write_text(
        json.dumps(facts, indent=1, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    )
    for name, value in samples.items():
        (target / "samples" / f"{name}.json").write_text(
            json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n"
        )
    print(f"{target}: {len(paths)} paths, {sum(map(len, components.values()))} components, {len(samples)} samples")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
