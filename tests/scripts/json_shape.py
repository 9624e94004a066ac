#!/usr/bin/env python3
"""Validates JSON documents against scripts/report.schema.json.

    json_shape.py SCHEMA FILE     (FILE: one JSON document per line)

A small validator for the subset of JSON Schema the schema uses (type, const,
enum, required, properties, items, minimum, pattern, $ref to #/$defs), so the
test needs nothing beyond the standard library. Prints every violation with
its JSON path; exit 1 if any.
"""
import json
import re
import sys

TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def type_ok(value, name):
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, TYPES[name])


def check(value, schema, root, path, errors):
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        merged = dict(target)
        merged.update({k: v for k, v in schema.items() if k != "$ref"})
        schema = merged
    if "const" in schema and value != schema["const"]:
        errors.append("%s: %r is not %r" % (path, value, schema["const"]))
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: %r not in %r" % (path, value, schema["enum"]))
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(type_ok(value, n) for n in names):
            errors.append("%s: %r is not of type %s" % (path, value, names))
            return
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append("%s: %r does not match %s" % (path, value, schema["pattern"]))
    if isinstance(value, (int, float)) and not isinstance(value, bool) and "minimum" in schema:
        if value < schema["minimum"]:
            errors.append("%s: %r below %r" % (path, value, schema["minimum"]))
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append("%s: missing %r" % (path, key))
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                check(value[key], sub, root, "%s.%s" % (path, key), errors)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check(item, schema["items"], root, "%s[%d]" % (path, i), errors)


def main():
    schema = json.load(open(sys.argv[1]))
    errors = []
    n = 0
    with open(sys.argv[2]) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            n += 1
            try:
                doc = json.loads(line)
            except ValueError as e:
                errors.append("line %d: not JSON: %s" % (lineno, e))
                continue
            check(doc, schema, schema, "$%d" % lineno, errors)
    if n == 0:
        errors.append("no JSON document")
    for e in errors[:40]:
        print(e)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
