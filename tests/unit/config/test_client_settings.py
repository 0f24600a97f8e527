"""The VS Code extension contributes every server setting, as the server defines it.

`codecortex.config.SPECS` is the one list of server settings. The extension's `package.json`
must contribute each as `codecortex.<name>` with the same type, default, enum and limits, and
nothing else besides its client-only settings; the extension's own table of what it sends
(`src/core/settings.ts`, checked against package.json by the extension's unit tests) must name
the same settings.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from conftest import ROOT

from codecortex.config import CLIENT_KEY_SETTING, SPECS, SettingSpec, load_settings

VSCODE_DIR = ROOT / "client-vscode"
CLIENT_ONLY = {"server.path", "trace.server", "enable"}  # never sent to the server
# Sent to the server but not contributed: the extension takes the value from VS Code itself
# (`logLevel` follows the CodeCortex output channel's log level).
DERIVED = {"logLevel"}
JSON_TYPE = {str: "string", bool: "boolean", int: "integer", float: "number"}


def contributed() -> dict[str, dict[str, Any]]:
    manifest = json.loads((VSCODE_DIR / "package.json").read_text(encoding="utf-8"))
    sections = manifest["contributes"]["configuration"]
    if isinstance(sections, dict):
        sections = [sections]
    props: dict[str, dict[str, Any]] = {}
    for section in sections:
        for key, schema in section["properties"].items():
            assert key.startswith("codecortex."), key
            assert key not in props, f"{key} is contributed twice"
            props[key.removeprefix("codecortex.")] = schema
    return props


def test_every_server_setting_is_contributed_and_nothing_else() -> None:
    props = contributed()
    server_names = {s.name for s in SPECS}
    missing = sorted(server_names - set(props) - DERIVED)
    assert not missing, f"settings missing from client-vscode/package.json: {missing}"
    unknown = sorted(set(props) - server_names - CLIENT_ONLY)
    assert not unknown, f"package.json contributes settings the server does not know: {unknown}"
    assert not CLIENT_ONLY & server_names
    assert DERIVED <= server_names and not DERIVED & set(props)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.name not in DERIVED], ids=lambda s: s.name)
def test_contributed_setting_matches_the_server(spec: SettingSpec) -> None:
    schema = contributed().get(spec.name)
    assert schema is not None, f"codecortex.{spec.name} is not contributed"
    assert schema["type"] == JSON_TYPE[spec.type]
    default = schema.get("default")
    assert type(default) is not bool or spec.type is bool  # JSON true is not a number
    assert default == spec.default, f"default {default!r}, server {spec.default!r}"
    assert tuple(schema.get("enum", ())) == spec.choices
    if spec.choices and "enumDescriptions" in schema:
        assert len(schema["enumDescriptions"]) == len(spec.choices)
    assert schema.get("minimum") == spec.minimum
    assert schema.get("maximum") == spec.maximum
    assert (schema.get("markdownDescription") or schema.get("description") or "").strip()
    # The contributed default is a value the server accepts as it is.
    settings = load_settings({spec.name: default}, env={})
    assert settings.errors == []
    assert getattr(settings, spec.attr) == spec.default


def test_extension_sends_the_same_settings() -> None:
    source = (VSCODE_DIR / "src" / "core" / "settings.ts").read_text(encoding="utf-8")
    table = source.split("export const SETTINGS", 1)[1].split("];", 1)[0]
    keys = re.findall(r"\bkey:\s*'([^']+)'", table)
    assert len(keys) == len(set(keys))
    assert set(keys) - CLIENT_ONLY == {s.name for s in SPECS}
    assert set(keys) & CLIENT_ONLY == CLIENT_ONLY
    # The model API key: no setting (secret storage), sent under the name the server reads.
    sent_as = re.search(r"API_KEY_SETTING = '([^']+)'", source)
    assert sent_as and sent_as.group(1) == CLIENT_KEY_SETTING
    assert CLIENT_KEY_SETTING not in {s.name for s in SPECS}
    assert CLIENT_KEY_SETTING not in contributed()
    for key in CLIENT_ONLY:
        entry = re.search(r"\{[^{}]*key:\s*'" + re.escape(key) + r"'[^{}]*\}", table)
        assert entry and "clientOnly: true" in entry.group(0), f"{key} must be clientOnly"
    for key in DERIVED:
        entry = re.search(r"\{[^{}]*key:\s*'" + re.escape(key) + r"'[^{}]*\}", table)
        assert entry and "derived: true" in entry.group(0), f"{key} must be derived"


def test_extension_readme_lists_every_setting() -> None:
    readme = (VSCODE_DIR / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    for spec in SPECS:
        if spec.name in DERIVED:
            continue
        # A row names it in full, or as `.last` in a row that groups settings of one prefix.
        last = spec.name.rsplit(".", 1)[-1]
        assert f"`codecortex.{spec.name}`" in table or (
            "." in spec.name and f"`.{last}`" in table
        ), f"codecortex.{spec.name} is missing from the settings table of client-vscode/README.md"
