"""A small JSON-schema validator for model output (the subset our prompt schemas use:
type, properties, required, additionalProperties, items, enum, minimum/maximum,
minItems/maxItems, minLength/maxLength, anyOf)."""

from __future__ import annotations

from typing import Any

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    expected = _TYPES.get(name)
    return expected is not None and isinstance(value, expected)


def _bounds(
    schema: dict[str, Any], path: str, size: Any, low: str, high: str, below: str, above: str
) -> list[str]:
    """Errors for `size` (a number, or a length) outside the schema's `low` / `high` keywords;
    `below` / `above` are messages over {v} (the size) and {n} (the bound)."""
    errors = []
    if low in schema and size < schema[low]:
        errors.append(f"{path}: " + below.format(v=size, n=schema[low]))
    if high in schema and size > schema[high]:
        errors.append(f"{path}: " + above.format(v=size, n=schema[high]))
    return errors


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Errors (``"$.edits[0].start_line: expected integer"``); empty when ``value`` conforms."""
    errors: list[str] = []
    if "anyOf" in schema:
        options = [validate(value, sub, path) for sub in schema["anyOf"]]
        if all(options):
            errors.append(f"{path}: matches none of the allowed shapes")
        return errors
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is_type(value, n) for n in names):
            errors.append(f"{path}: expected {' or '.join(names)}, got {type(value).__name__}")
            return errors
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        errors += _bounds(
            schema, path, value, "minimum", "maximum", "{v} < minimum {n}", "{v} > maximum {n}"
        )
    if isinstance(value, str):
        errors += _bounds(
            schema,
            path,
            len(value),
            "minLength",
            "maxLength",
            "shorter than {n} characters",
            "longer than {n} characters",
        )
    if isinstance(value, dict):
        props: dict[str, Any] = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing required property {key!r}")
        for key, sub in value.items():
            if key in props:
                errors.extend(validate(sub, props[key], f"{path}.{key}"))
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected property {key!r}")
    if isinstance(value, list):
        errors += _bounds(
            schema,
            path,
            len(value),
            "minItems",
            "maxItems",
            "fewer than {n} items",
            "more than {n} items",
        )
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                errors.extend(validate(item, items, f"{path}[{i}]"))
    return errors


__all__ = ["validate"]
