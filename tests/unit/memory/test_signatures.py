"""Problem signatures over a corpus of real tool messages, plus targeted cases."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict

import pytest
from conftest import TESTS

from codecortex.memory.signatures import (
    PROBLEM_TYPES,
    Placeholder,
    Signature,
    classify_problem_type,
    compute_signature,
    map_values,
    normalise_tool,
)

CORPUS = TESTS / "corpus" / "messages.jsonl"


def _corpus() -> list[dict[str, str]]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line]


ROWS = _corpus()
BY_GROUP: dict[str, list[dict[str, str]]] = defaultdict(list)
for _row in ROWS:
    BY_GROUP[_row["group"]].append(_row)


def _sig(row: dict[str, str]) -> Signature:
    return compute_signature(row["tool"], row["code"], row["message"])


# --------------------------------------------------------------------------- corpus


def test_corpus_is_real_and_broad() -> None:
    assert len(ROWS) >= 150
    tools = {r["tool"] for r in ROWS}
    assert {"ruff", "mypy", "pyflakes", "pyright", "tsc", "eslint", "rustc", "gcc"} <= tools
    assert {"clippy", "python"} <= tools
    assert all(r["origin"] == "real" for r in ROWS)
    # The grouping test means something only if many groups hold *different* messages.
    varied = [g for g, rows in BY_GROUP.items() if len({r["message"] for r in rows}) > 1]
    assert len(varied) >= 60


@pytest.mark.parametrize("group", sorted(BY_GROUP))
def test_same_group_same_key(group: str) -> None:
    keys = {_sig(r).key for r in BY_GROUP[group]}
    assert len(keys) == 1, (group, keys)


def test_different_groups_different_keys() -> None:
    owner: dict[str, str] = {}
    clashes = []
    for group, rows in BY_GROUP.items():
        key = _sig(rows[0]).key
        if key in owner and owner[key] != group:
            clashes.append((key, owner[key], group))
        owner[key] = group
    assert not clashes
    assert len(owner) == len(BY_GROUP)


def test_corpus_values_reconstruct_message_parts() -> None:
    """Every extracted value occurs in the message it came from, and placeholders in the
    template match the values in number."""
    for row in ROWS:
        sig = _sig(row)
        flat = " ".join(row["message"].split())
        for v in sig.values:
            assert v.value in flat, (row, v)
        assert sig.template.count("{") == len(sig.values), (row, sig.template)


def test_corpus_classification_is_total() -> None:
    for row in ROWS:
        assert classify_problem_type(_sig(row), 1) in PROBLEM_TYPES


# --------------------------------------------------------------------------- targeted


def test_ruff_unused_import_values_and_key() -> None:
    a = compute_signature("Ruff", "F401", "`os` imported but unused")
    b = compute_signature("ruff", "F401", "`collections.OrderedDict` imported but unused")
    assert a.key == b.key == "ruff:F401:'{module}' imported but unused"
    assert a.values == (Placeholder("module", "os"),)
    assert b.values == (Placeholder("module", "collections.OrderedDict"),)
    assert a.digest == hashlib.sha1(a.key.encode()).hexdigest()
    assert a.tool == "ruff" and a.code == "F401"


def test_ruff_servers_help_paragraph_is_not_part_of_the_problem() -> None:
    cli = compute_signature("ruff", "E711", "Comparison to `None` should be `cond is None`")
    server = compute_signature(
        "Ruff",
        "E711",
        "Comparison to `None` should be `cond is None`\n\nhelp: Replace with `cond is None`",
    )
    assert server.key == cli.key and server.values == cli.values


def test_mypy_typed_values_in_order() -> None:
    sig = compute_signature(
        "mypy",
        "assignment",
        'Incompatible types in assignment (expression has type "str", variable has type "int")',
    )
    assert [(v.kind, v.value) for v in sig.values] == [("type", "str"), ("type", "int")]
    assert "{type}" in sig.template and "str" not in sig.template


def test_mypy_text_output_trailing_code_is_stripped() -> None:
    json_style = compute_signature("mypy", "name-defined", 'Name "x" is not defined')
    text_style = compute_signature("mypy", "", 'Name "y" is not defined  [name-defined]')
    assert json_style.key == text_style.key
    assert text_style.code == "name-defined"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("Pylance", "reportUndefinedVariable"), ("basedpyright", "reportUndefinedVariable")),
        (("pyright", "reportUndefinedVariable"), ("Pylance", {"value": "reportUndefinedVariable"})),
    ],
)
def test_pyright_aliases(a: tuple[str, object], b: tuple[str, object]) -> None:
    s1 = compute_signature(a[0], a[1], '"foo" is not defined')  # type: ignore[arg-type]
    s2 = compute_signature(b[0], b[1], '"bar" is not defined')  # type: ignore[arg-type]
    assert s1.tool == "pyright" and s1.key == s2.key


def test_tool_normalisation() -> None:
    assert normalise_tool("Ruff") == "ruff"
    assert normalise_tool("ts") == normalise_tool("typescript") == normalise_tool("tsc") == "tsc"
    assert normalise_tool("rust-analyzer") == normalise_tool("clippy") == "rustc"
    assert normalise_tool("ESLint") == "eslint"
    assert normalise_tool("clangd") == "clang"
    assert normalise_tool("", "python") == "python"


def test_tsc_code_prefix_and_did_you_mean() -> None:
    a = compute_signature(
        "ts", 2551, "Property 'nam' does not exist on type 'User'. Did you mean 'name'?"
    )
    b = compute_signature(
        "typescript",
        "TS2551",
        "Property 'totl' does not exist on type 'Order'. Did you mean 'total'?",
    )
    assert a.code == "2551" and a.key == b.key
    assert [v.value for v in a.values] == ["nam", "User"]


def test_plural_and_singular_share_a_template() -> None:
    one = compute_signature("tsc", "2554", "Expected 1 argument, but got 0.")
    two = compute_signature("tsc", "2554", "Expected 2 arguments, but got 3.")
    assert one.key == two.key
    py1 = compute_signature(
        "python", "", "TypeError: f() takes 0 positional arguments but 1 was given"
    )
    py2 = compute_signature(
        "python", "", "TypeError: g() takes 2 positional arguments but 3 were given"
    )
    assert py1.key == py2.key
    assert [v.value for v in py1.values] == ["f", "0", "1"]


def test_python_traceback_line_without_code() -> None:
    sig = compute_signature("python", "", "ModuleNotFoundError: No module named 'requests'")
    assert sig.tool == "python" and sig.code == "ModuleNotFoundError"
    assert sig.values == (Placeholder("module", "requests"),)
    dotted = compute_signature(
        "", "", "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)"
    )
    assert dotted.tool == "python" and dotted.code == "JSONDecodeError"
    assert dotted.values[0] == Placeholder("location", "line 1 column 1")
    with_code = compute_signature("python", "KeyError", "KeyError: 'a'")
    assert with_code.key == compute_signature("python", "", "KeyError: 'b'").key


def test_gcc_quotes_do_not_matter() -> None:
    ascii_q = compute_signature("gcc", "-Wunused-variable", "unused variable 'x'")
    typo_q = compute_signature("gcc", "[-Wunused-variable]", "unused variable ‘count’")
    assert ascii_q.key == typo_q.key
    assert typo_q.values == (Placeholder("name", "count"),)


def test_paths_numbers_and_locations() -> None:
    sig = compute_signature(
        "python",
        "",
        "FileNotFoundError: [Errno 2] No such file or directory: '/srv/app/config.yaml'",
    )
    assert [(v.kind, v.value) for v in sig.values] == [
        ("number", "2"),
        ("path", "/srv/app/config.yaml"),
    ]
    loc = compute_signature("pyflakes", "", "redefinition of unused 'f' from line 12")
    assert loc.values[-1] == Placeholder("location", "line 12")
    assert loc.template.endswith("from {location}")


def test_different_errors_differ() -> None:
    keys = {
        compute_signature("ruff", "F401", "`os` imported but unused").key,
        compute_signature("ruff", "F811", "Redefinition of unused `os` from line 1").key,
        compute_signature("pyflakes", "", "'os' imported but unused").key,
        compute_signature("mypy", "attr-defined", '"A" has no attribute "b"').key,
        compute_signature("mypy", "attr-defined", 'Module "a" has no attribute "b"').key,
        compute_signature("python", "", "AttributeError: module 'os' has no attribute 'x'").key,
        compute_signature("python", "", "AttributeError: 'int' object has no attribute 'x'").key,
    }
    assert len(keys) == 7


def test_long_messages_get_bounded_keys() -> None:
    msg = "Type " + " | ".join(f"Literal[{i}]" for i in range(200)) + " is not assignable"
    sig = compute_signature("pyright", "reportAssignmentType", msg + " to x")
    other = compute_signature("pyright", "reportAssignmentType", msg + " to y")
    assert len(sig.key) <= 240
    assert sig.key != other.key


def test_json_round_trip() -> None:
    sig = compute_signature(
        "mypy", "arg-type", 'Argument 1 to "f" has incompatible type "str"; expected "int"'
    )
    assert Signature.from_json(json.loads(json.dumps(sig.to_json()))) == sig


@pytest.mark.parametrize(
    ("tool", "code", "message", "severity", "expected"),
    [
        ("ruff", "S105", 'Possible hardcoded password assigned to: "token"', 2, "security"),
        ("bandit", "B602", "subprocess call with shell=True identified", 2, "security"),
        ("eslint", "no-eval", "`eval` can be harmful.", 2, "security"),
        (
            "ruff",
            "PERF401",
            "Use a list comprehension to create a transformed list",
            2,
            "performance",
        ),
        (
            "mypy",
            "import-not-found",
            'Cannot find implementation or library stub for module named "x"',
            1,
            "integration",
        ),
        ("pyright", "reportMissingImports", 'Import "x" could not be resolved', 1, "integration"),
        (
            "tsc",
            "2307",
            "Cannot find module 'x' or its corresponding type declarations.",
            1,
            "integration",
        ),
        ("python", "", "ModuleNotFoundError: No module named 'x'", 1, "integration"),
        ("ruff", "F401", "`os` imported but unused", 2, "refactoring"),
        ("ruff", "C901", "`f` is too complex (12 > 10)", 2, "refactoring"),
        ("eslint", "no-unused-vars", "'a' is defined but never used.", 2, "refactoring"),
        ("rustc", "unused_variables", "unused variable: `a`", 2, "refactoring"),
        ("tsc", "6133", "'a' is declared but its value is never read.", 1, "refactoring"),
        (
            "mypy",
            "assignment",
            'Incompatible types in assignment (expression has type "str", variable has type "int")',
            1,
            "error",
        ),
        ("tsc", "2322", "Type 'string' is not assignable to type 'number'.", 1, "error"),
        ("rustc", "E0308", "mismatched types", 1, "error"),
        ("ruff", "F821", "Undefined name `x`", 1, "error"),
        ("python", "", "KeyError: 'a'", 1, "debugging"),
        ("python", "", "NotImplementedError", 1, "feature_building"),
        ("rustc", "E0046", "not all trait items implemented, missing: `f`", 1, "feature_building"),
        ("ruff", "UP035", "`typing.List` is deprecated, use `list` instead", 2, "learning"),
        ("pyright", "reportDeprecated", 'The function "f" is deprecated', 4, "learning"),
    ],
)
def test_classify_problem_type(
    tool: str, code: str, message: str, severity: int, expected: str
) -> None:
    assert classify_problem_type(compute_signature(tool, code, message), severity) == expected


def test_map_values_pairs_positions() -> None:
    old = compute_signature("mypy", "attr-defined", '"Box" has no attribute "colour"')
    new = compute_signature("mypy", "attr-defined", '"Crate" has no attribute "weight"')
    assert map_values(old, new) == {"Box": "Crate", "colour": "weight"}


def test_map_values_requires_equal_keys() -> None:
    old = compute_signature("ruff", "F401", "`os` imported but unused")
    new = compute_signature("ruff", "F841", "Local variable `x` is assigned to but never used")
    assert map_values(old, new) == {}


def test_map_values_skips_locations_and_conflicts() -> None:
    old = compute_signature("pyflakes", "", "redefinition of unused 'f' from line 3")
    new = compute_signature("pyflakes", "", "redefinition of unused 'g' from line 9")
    assert map_values(old, new) == {"f": "g"}
    old2 = compute_signature(
        "mypy", "operator", 'Unsupported operand types for + ("int" and "int")'
    )
    new2 = compute_signature(
        "mypy", "operator", 'Unsupported operand types for + ("int" and "str")'
    )
    # "int" would map to both "int" and "str": ambiguous, so it is left out.
    assert map_values(old2, new2) == {"+": "+"}


def test_clang_and_rust_analyzer_styles() -> None:
    # clang's documented formats (clang itself is not installed where the corpus was made).
    a = compute_signature("clangd", "-Wunused-variable", "unused variable 'count'")
    b = compute_signature("clang", "[-Wunused-variable]", "unused variable 'total'")
    assert a.tool == "clang" and a.key == b.key
    c = compute_signature("clang", "", "use of undeclared identifier 'foo'")
    d = compute_signature("clang", "", "use of undeclared identifier 'bar'")
    assert c.key == d.key and c.values == (Placeholder("name", "foo"),)
    ra = compute_signature("rust-analyzer", "E0425", "cannot find value `gamma` in this scope")
    rc = compute_signature("rustc", "E0425", "cannot find value `delta` in this scope")
    assert ra.key == rc.key
