"""Versioned prompt templates stored as data (``codecortex/prompts/*.json``).

A template is ``{"name", "version", "description", "system", "user", "schema"}``. ``system`` and
``user`` contain ``{placeholder}`` markers (lower-case identifiers); everything else, including
other braces, is literal, so code and JSON inside values are never re-interpreted.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

_PLACEHOLDER_RE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: int
    system: str
    user: str
    schema: dict[str, Any]
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PromptTemplate:
        missing = [k for k in ("name", "version", "system", "user", "schema") if k not in data]
        if missing:
            raise ValueError(f"prompt template is missing {', '.join(missing)}")
        if not isinstance(data["version"], int) or data["version"] < 1:
            raise ValueError(f"prompt template {data['name']!r}: version must be an int >= 1")
        if not isinstance(data["schema"], dict) or data["schema"].get("type") != "object":
            raise ValueError(f"prompt template {data['name']!r}: schema must be an object schema")
        known = {"name", "version", "system", "user", "schema", "description"}
        return cls(
            name=str(data["name"]),
            version=int(data["version"]),
            system=str(data["system"]),
            user=str(data["user"]),
            schema=data["schema"],
            description=str(data.get("description", "")),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "system": self.system,
            "user": self.user,
            "schema": self.schema,
            **self.extra,
        }

    @cached_property
    def digest(self) -> str:
        """sha256 of the template content (canonical JSON): changes whenever the wording,
        schema or version changes, so cached outputs of older templates are not reused."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @cached_property
    def placeholders(self) -> frozenset[str]:
        return frozenset(_PLACEHOLDER_RE.findall(self.system + "\n" + self.user))

    def _fill(self, text: str, values: dict[str, str]) -> str:
        return _PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], text)

    def render(self, **values: Any) -> list[dict[str, str]]:
        """Chat messages ``[{"role": "system", ...}, {"role": "user", ...}]``.

        Every placeholder must be given (``ValueError`` lists the missing ones); extra values
        are ignored. Non-string values are JSON-encoded."""
        missing = sorted(self.placeholders - values.keys())
        if missing:
            raise ValueError(f"prompt {self.name!r} needs values for: {', '.join(missing)}")
        text_values = {
            k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True)
            for k, v in values.items()
        }
        return [
            {"role": "system", "content": self._fill(self.system, text_values)},
            {"role": "user", "content": self._fill(self.user, text_values)},
        ]

    def cache_key(self, model: str, **values: Any) -> str:
        """sha256 of (template digest, model, inputs): the key for caching outputs."""
        payload = json.dumps(
            {"template": self.digest, "model": model, "values": values},
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def load_templates(directory: str | Path | None = None) -> dict[str, PromptTemplate]:
    """Load every ``*.json`` template (default: the ``codecortex.prompts`` package data).
    When two files carry the same name, the highest version wins."""
    templates: dict[str, PromptTemplate] = {}
    if directory is None:
        root = resources.files("codecortex").joinpath("prompts")
        entries = [(e.name, e.read_text(encoding="utf-8")) for e in root.iterdir()]
    else:
        entries = [(p.name, p.read_text(encoding="utf-8")) for p in Path(directory).iterdir()]
    for filename, text in sorted(entries):
        if not filename.endswith(".json"):
            continue
        try:
            template = PromptTemplate.from_dict(json.loads(text))
        except (json.JSONDecodeError, ValueError) as exc:
            raise ValueError(f"invalid prompt template {filename}: {exc}") from exc
        current = templates.get(template.name)
        if current is None or template.version > current.version:
            templates[template.name] = template
    return templates


__all__ = ["PromptTemplate", "load_templates"]
