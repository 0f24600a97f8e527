"""Many versions of a document checked by one ruff run give what one run per version gives.

Real ruff on a project whose configuration depends on where a file is: line length and rules in
pyproject.toml, per-file ignores for tests and for a package's `__init__.py`, a nested ruff.toml
extending the root's (through a shared configs/strict.toml) with more rules, and `src` for what
counts as first-party (import order).
Each version is checked twice: by `Verifier.prefetch` (one ruff run over mirrors of the file's
place, detectors/versions.py) and by `run_on_text` (ruff on stdin under the file's own name,
one run each). The verdicts that depend on them must not change.
"""

from __future__ import annotations

from pathlib import Path

from codecortex.detectors.text import run_on_text
from codecortex.diagnostics import Diagnostic, Range
from codecortex.memory.verify import Verifier

PYPROJECT = """\
[project]
name = "shop"
requires-python = ">=3.11"

[tool.ruff]
line-length = 60
src = ["src"]

[tool.ruff.lint]
select = ["E", "F", "I", "B"]

[tool.ruff.lint.per-file-ignores]
"tests/*" = ["B011"]
"src/shop/__init__.py" = ["F401"]
"""

STRICT = """\
extend = "../pyproject.toml"

[lint]
extend-select = ["SIM", "INP"]
"""
NESTED = 'extend = "../configs/strict.toml"\n'

IMPORTS = (
    "import os\nimport sys\n\nimport shop\nimport requests\n\nprint(os, sys, shop, requests)\n"
)
SORTED = (
    "import os\nimport sys\n\nimport requests\n\nimport shop\n\nprint(os, sys, shop, requests)\n"
)
LONG = "VALUE = {'key': 'a rather long value that goes past sixty columns'}\n"
ASSERT_FALSE = "def test_it():\n    assert False\n"
INIT = "from shop.core import Cart, Item\n"
NESTED_CODE = "def f(a, b):\n    if a:\n        if b:\n            return 1\n    return 0\n"
FLAT_CODE = "def f(a, b):\n    if a and b:\n        return 1\n    return 0\n"


def project(root: Path) -> dict[str, list[str]]:
    """The project's files and the versions of each to check."""
    (root / "pyproject.toml").write_text(PYPROJECT)
    for folder in ("src/shop", "tests", "tools"):
        (root / folder).mkdir(parents=True)
    (root / "src/shop/core.py").write_text("class Cart: ...\n\n\nclass Item: ...\n")
    (root / "configs").mkdir()
    (root / "configs/strict.toml").write_text(STRICT)
    (root / "tools/ruff.toml").write_text(NESTED)
    versions = {
        "src/shop/__init__.py": [
            INIT,
            INIT.replace("Cart, Item", "Item, Cart"),
            INIT + "x == None\n",
        ],
        "src/shop/checkout.py": [IMPORTS, SORTED, LONG, NESTED_CODE],
        "tests/test_checkout.py": [ASSERT_FALSE, ASSERT_FALSE + LONG, IMPORTS],
        "src/shop/orders.py": [ASSERT_FALSE, "import json\n\n\n" + ASSERT_FALSE],
        "tools/report.py": [NESTED_CODE, FLAT_CODE, LONG],
    }
    for name, texts in versions.items():
        (root / name).write_text(texts[0])
    return versions


def codes(diags: list[Diagnostic] | str) -> list[str]:
    assert not isinstance(diags, str), diags
    return [d.code for d in diags]


async def test_one_run_for_many_versions_gives_what_one_run_each_gives(tmp_path: Path) -> None:
    versions = project(tmp_path)
    verifier = Verifier()
    batched: dict[str, list[list[Diagnostic] | str]] = {}
    for name, texts in versions.items():
        path = tmp_path / name
        checked = await verifier.prefetch("ruff", texts, path, tmp_path, ("E711",))
        alone = [await run_on_text("ruff", t, path, tmp_path, select=("E711",)) for t in texts]
        batched[name] = [
            await verifier.diagnostics("ruff", t, path, tmp_path, ("E711",)) for t in texts
        ]
        assert batched[name] == alone, name
        assert checked == len(texts), name  # all of them in one run

    # the project's configuration applied in the batch, per file
    init, unsorted, init_e711 = batched["src/shop/__init__.py"]
    assert codes(init) == [] and codes(unsorted) == ["I001"]  # F401 ignored there
    assert "E711" in codes(init_e711)  # ... and the rule asked for checked as well
    imports, fixed, long, not_nested = batched["src/shop/checkout.py"]
    # shop is first-party (src = ["src"]): after requests, in a group of its own
    assert codes(imports) == ["I001"] and codes(fixed) == [] and codes(long) == ["E501"]
    assert codes(batched["tests/test_checkout.py"][0]) == []  # B011 ignored in tests
    assert codes(batched["src/shop/orders.py"][0]) == ["B011"]
    assert codes(batched["src/shop/orders.py"][1]) == ["F401", "B011"]  # not ignored here
    nested, flat, long_tool = batched["tools/report.py"]
    assert codes(nested) == ["SIM102"] and codes(flat) == []  # the nested ruff.toml's rules
    assert codes(not_nested) == []  # ... there only
    assert "E501" in codes(long_tool)  # ... extending the root's line length


async def test_verdicts_after_one_run_are_the_verdicts_of_one_run_each(tmp_path: Path) -> None:
    versions = project(tmp_path)
    path = tmp_path / "src/shop/checkout.py"
    original = versions["src/shop/checkout.py"][0]
    problem = Diagnostic(
        "ruff", "I001", "Import block is un-sorted or un-formatted", Range.of(0, 0, 5, 0)
    )
    edits = [
        SORTED,
        "import os\nimport sys\n\nimport requests\nimport shop\n\nprint(os, sys, shop, requests)\n",
        "import os\nimport sys\n\nimport requests\n\nimport shop\n\nprint(os, sys, shop, requests\n",
    ]
    batched, alone = Verifier(), Verifier()
    assert await batched.prefetch("ruff", [original, *edits], path, tmp_path, ("I001",)) == 4
    verdicts = [await batched.check("ruff", problem, original, e, path, tmp_path) for e in edits]
    expected = [await alone.check("ruff", problem, original, e, path, tmp_path) for e in edits]
    assert verdicts == expected
    assert [v.verified for v in verdicts] == [True, False, False]
