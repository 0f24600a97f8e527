"""Learning a fix on one file and replaying it on another, with real ruff / mypy / tsc diagnostics.

Fixtures: tests/fixtures/replay/<case>/{a_before,a_after,b,b_expected}.<ext>: the fix is learned
from a_before -> a_after at the real diagnostic of a_before, then replayed on b at b's real
diagnostic; the result must be exactly b_expected (which the tool accepts).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT

from codecortex.diagnostics import Range, apply_edits
from codecortex.memory.learning import LearnedChange, NoSolution, learn_change
from codecortex.memory.replay import replay_fix
from codecortex.memory.signatures import compute_signature
from codecortex.memory.tokens import build_value_mapping, map_text, suggestion_values, tokenize

FIX = ROOT / "tests" / "fixtures" / "replay"
BIN = Path(sys.executable).parent


@dataclass
class Diag:
    code: str
    message: str
    range: Range
    source: str = "Ruff"


_QUOTED = re.compile(r"`([^`]*)`|\"([^\"]*)\"|'([^']*)'")


def quoted(message: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None) for m in _QUOTED.finditer(message)]


def values(diag: Diag) -> list[str]:
    """Placeholder values as the server gets them: the signature's values, plus the names the
    message suggests (signatures drop "Did you mean 'x'?" so that the key does not depend on it)."""
    sig = compute_signature(diag.source, diag.code, diag.message, None)
    return [p.value for p in sig.values] + suggestion_values(diag.message)


def tool(name: str) -> str:
    found = BIN / name
    return str(found) if found.exists() else (shutil.which(name) or name)


# --------------------------------------------------------------------------- real tools


JSON = ["--output-format=json"]


def ruff(path: Path, code: str) -> list[Diag]:
    proc = subprocess.run(
        [tool("ruff"), "check", "--isolated", "--no-cache", "--select", code, *JSON, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = []
    for d in json.loads(proc.stdout):
        loc, end = d["location"], d["end_location"]
        rng = Range.of(loc["row"] - 1, loc["column"] - 1, end["row"] - 1, end["column"] - 1)
        out.append(Diag(d["code"], d["message"], rng))
    return out


def ruff_text(tmp_path: Path, text: str, code: str, name: str = "snippet.py") -> list[Diag]:
    path = tmp_path / name
    path.write_text(text)
    return ruff(path, code)


_MYPY_LINE = re.compile(r"^(.*?):(\d+):(\d+):(\d+):(\d+): error: (.*?)  \[([\w-]+)\]$")
MYPY_FLAGS = ["--show-column-numbers", "--show-error-end", "--no-error-summary"]
MYPY_CASES = ["mypy_optional_union", "mypy_optional_typing", "mypy_attr", "mypy_missing_return"]


@pytest.fixture(scope="module")
def mypy_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Diag]]:
    """One mypy run over every mypy fixture file (copied under unique module names)."""
    work = tmp_path_factory.mktemp("mypy")
    files = []
    for case in MYPY_CASES:
        for src in sorted((FIX / case).glob("*.py")):
            dst = work / f"{case}__{src.stem}.py"
            shutil.copy(src, dst)
            files.append(dst.name)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            *MYPY_FLAGS,
            "--cache-dir",
            str(work / ".mypy_cache"),
            *files,
        ],
        capture_output=True,
        text=True,
        cwd=work,
        timeout=120,
    )
    results: dict[str, list[Diag]] = {name: [] for name in files}
    for line in proc.stdout.splitlines():
        m = _MYPY_LINE.match(line)
        if m:
            f, sl, sc, el, ec, msg, code = m.groups()
            rng = Range.of(int(sl) - 1, int(sc) - 1, int(el) - 1, int(ec))
            results[f].append(Diag(code, msg, rng, "mypy"))
    assert any(results.values()), proc.stdout + proc.stderr
    return results


def tsc_path() -> str | None:
    local = ROOT / "client-vscode" / "node_modules" / ".bin" / "tsc"
    return shutil.which("tsc") or (str(local) if local.exists() else None)


_TSC_LINE = re.compile(r"^(.*?)\((\d+),(\d+)\): error TS(\d+): (.*)$")


def ts_diags(paths: list[Path]) -> dict[str, list[Diag]]:
    """Real tsc when available; else the real message format at the misspelled property."""
    tsc = tsc_path()
    results: dict[str, list[Diag]] = {p.name: [] for p in paths}
    if tsc is not None:
        proc = subprocess.run(
            [tsc, "--noEmit", "--pretty", "false", "--target", "es2020", *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        for line in proc.stdout.splitlines():
            m = _TSC_LINE.match(line)
            if m:
                f, ln, col, code, msg = m.groups()
                start = int(col) - 1
                name = quoted(msg)[0] if quoted(msg) else ""
                rng = Range.of(int(ln) - 1, start, int(ln) - 1, start + len(name))
                results[Path(f).name].append(Diag(code, msg, rng, "ts"))
        return results
    known = {"lenght": ("length", "string[]"), "pussh": ("push", "number[]")}
    for p in paths:
        for ln, line in enumerate(p.read_text().splitlines()):
            for m in re.finditer(r"\.(\w+)", line):
                if m.group(1) in known:
                    good, typ = known[m.group(1)]
                    msg = (
                        f"Property '{m.group(1)}' does not exist on type '{typ}'. "
                        f"Did you mean '{good}'?"
                    )
                    rng = Range.of(ln, m.start(1), ln, m.end(1))
                    results[p.name].append(Diag("2551", msg, rng, "ts"))
    return results


# --------------------------------------------------------------------------- the cases

RUFF_CASES = {
    "f401_import": ("F401", 0.9),
    "f401_from": ("F401", 0.8),
    "f841_call": ("F841", 0.8),
    "f841_remove": ("F841", 0.8),
    "e711": ("E711", 0.8),
    "e712_bare": ("E712", 0.8),
    "e712_is": ("E712", 0.8),
}


def read_case(case: str, ext: str) -> tuple[str, str, str, str]:
    d = FIX / case
    return tuple(  # type: ignore[return-value]
        (d / f"{name}.{ext}").read_text() for name in ("a_before", "a_after", "b", "b_expected")
    )


def learn_and_replay(
    a_before: str, a_after: str, da: Diag, b: str, db: Diag, language: str
) -> tuple[LearnedChange, object]:
    learned = learn_change(a_before, a_after, da.range, language)
    assert isinstance(learned, LearnedChange), learned
    result = replay_fix(
        learned.before,
        learned.after,
        values(da),
        values(db),
        b,
        db.range,
        language,
    )
    return learned, result


@pytest.mark.parametrize("case", sorted(RUFF_CASES))
def test_ruff_fix_replays_on_other_file(case: str, tmp_path: Path) -> None:
    code, min_conf = RUFF_CASES[case]
    a_before, a_after, b, b_expected = read_case(case, "py")
    da = ruff_text(tmp_path, a_before, code, "a.py")
    db = ruff_text(tmp_path, b, code, "b.py")
    assert len(da) == 1 and len(db) == 1, (da, db)
    # the fixtures' "after" files really fix the problem
    assert ruff_text(tmp_path, a_after, code, "a2.py") == []
    assert ruff_text(tmp_path, b_expected, code, "b2.py") == []

    learned, result = learn_and_replay(a_before, a_after, da[0], b, db[0], "python")
    assert result is not None, (case, learned)
    assert result.new_text == b_expected
    assert apply_edits(b, result.edits) == b_expected
    assert result.confidence >= min_conf, result.reason
    assert result.reason


def test_f401_learns_import_line_and_empty_after(tmp_path: Path) -> None:
    a_before, a_after, _, _ = read_case("f401_import", "py")
    (d,) = ruff_text(tmp_path, a_before, "F401")
    learned = learn_change(a_before, a_after, d.range, "python")
    assert isinstance(learned, LearnedChange)
    assert (learned.before, learned.after) == ("import os\n", "")
    assert learned.region_before == Range.of(0, 0, 1, 0)
    assert learned.confidence >= 0.9
    assert "-import os\n" in learned.diff and "@@ -1,1 +1,0 @@" in learned.diff


def test_f401_exact_match_is_high_confidence(tmp_path: Path) -> None:
    a_before, a_after, b, _ = read_case("f401_import", "py")
    (da,) = ruff_text(tmp_path, a_before, "F401", "a.py")
    (db,) = ruff_text(tmp_path, b, "F401", "b.py")
    _, result = learn_and_replay(a_before, a_after, da, b, db, "python")
    assert result is not None and result.confidence >= 0.9
    # whole line removed, including its line break
    assert len(result.edits) == 1 and result.edits[0].range == Range.of(3, 0, 4, 0)


def test_from_import_learns_single_line(tmp_path: Path) -> None:
    a_before, a_after, _, _ = read_case("f401_from", "py")
    (d,) = ruff_text(tmp_path, a_before, "F401")
    learned = learn_change(a_before, a_after, d.range, "python")
    assert isinstance(learned, LearnedChange)
    assert learned.before == "from collections import OrderedDict, defaultdict\n"
    assert learned.after == "from collections import defaultdict\n"
    assert "+from collections import defaultdict" in learned.diff


@pytest.mark.parametrize("case", MYPY_CASES)
def test_mypy_fix_replays_on_other_file(case: str, mypy_results: dict[str, list[Diag]]) -> None:
    a_before, a_after, b, b_expected = read_case(case, "py")
    da = mypy_results[f"{case}__a_before.py"]
    db = mypy_results[f"{case}__b.py"]
    assert len(da) == 1 and len(db) == 1, (da, db)
    assert mypy_results[f"{case}__a_after.py"] == []
    assert mypy_results[f"{case}__b_expected.py"] == []
    learned, result = learn_and_replay(a_before, a_after, da[0], b, db[0], "python")
    assert result is not None, (case, learned, da, db)
    assert result.new_text == b_expected
    assert apply_edits(b, result.edits) == b_expected
    assert result.confidence >= 0.8, result.reason


def test_mypy_optional_learns_the_signature_line(mypy_results: dict[str, list[Diag]]) -> None:
    a_before, a_after, _, _ = read_case("mypy_optional_union", "py")
    (d,) = mypy_results["mypy_optional_union__a_before.py"]
    assert d.code == "return-value" and d.range.start.line == 4
    learned = learn_change(a_before, a_after, d.range, "python")
    assert isinstance(learned, LearnedChange)
    assert learned.before == "def find(items: list[int], target: int) -> int:\n"
    assert learned.after == "def find(items: list[int], target: int) -> int | None:\n"
    assert learned.region_before == Range.of(0, 0, 1, 0)
    assert "enclosing" in learned.reason
    # naming the symbol gives the same region
    hinted = learn_change(a_before, a_after, d.range, "python", symbol_hint="find")
    assert isinstance(hinted, LearnedChange) and hinted.before == learned.before


def test_typescript_property_typo_replays(tmp_path: Path) -> None:
    a_before, a_after, b, b_expected = read_case("ts_property", "ts")
    pa, pb = tmp_path / "a_before.ts", tmp_path / "b.ts"
    pa.write_text(a_before)
    pb.write_text(b)
    diags = ts_diags([pa, pb])
    (da,), (db,) = diags["a_before.ts"], diags["b.ts"]
    assert re.fullmatch(
        r"Property '\w+' does not exist on type '.+'\. Did you mean '\w+'\?", da.message
    )
    assert da.code in ("2339", "2551")
    learned, result = learn_and_replay(a_before, a_after, da, b, db, "typescript")
    assert learned.before == "  return items.lenght;\n"
    assert result is not None
    assert result.new_text == b_expected
    assert result.confidence >= 0.8, result.reason
    if tsc_path() is not None:
        pe = tmp_path / "b_expected.ts"
        pe.write_text(result.new_text)
        assert ts_diags([pe])["b_expected.ts"] == []


def test_replay_fixes_the_reported_occurrence_only(tmp_path: Path) -> None:
    a_before, a_after, _, _ = read_case("e711", "py")
    (da,) = ruff_text(tmp_path, a_before, "E711", "a.py")
    b = (
        "def pick(first, second):\n"
        "    if first == None:\n"
        "        return 1\n"
        "    if second == None:\n"
        "        return 2\n"
        "    return 0\n"
    )
    db = ruff_text(tmp_path, b, "E711", "b.py")
    assert len(db) == 2
    target = max(db, key=lambda d: d.range.start.line)
    _, result = learn_and_replay(a_before, a_after, da, b, target, "python")
    assert result is not None
    assert result.new_text == b.replace("second == None", "second is None")


# --------------------------------------------------------------------------- must not replay


def test_no_replay_when_code_around_differs_operator(tmp_path: Path) -> None:
    a_before, a_after, _, _ = read_case("e711", "py")
    (da,) = ruff_text(tmp_path, a_before, "E711", "a.py")
    b = "def check(item):\n    if item != None:\n        return 1\n    return 0\n"
    (db,) = ruff_text(tmp_path, b, "E711", "b.py")
    learned = learn_change(a_before, a_after, da.range, "python")
    assert isinstance(learned, LearnedChange)
    res = replay_fix(
        learned.before,
        learned.after,
        values(da),
        values(db),
        b,
        db.range,
        "python",
    )
    assert res is None


def test_no_replay_when_statement_shape_differs(tmp_path: Path) -> None:
    a_before, a_after, _, _ = read_case("f841_call", "py")
    (da,) = ruff_text(tmp_path, a_before, "F841", "a.py")
    b = "def load(data):\n    response = [x for x in data]\n    return 1\n"
    (db,) = ruff_text(tmp_path, b, "F841", "b.py")
    _, result = learn_and_replay(a_before, a_after, da, b, db, "python")
    assert result is None


def test_no_replay_when_mapping_fails(mypy_results: dict[str, list[Diag]]) -> None:
    a_before, a_after, _, _ = read_case("mypy_attr", "py")
    (da,) = mypy_results["mypy_attr__a_before.py"]
    (db,) = mypy_results["mypy_attr__b_nosuggestion.py"]
    assert "maybe" not in db.message and "maybe" in da.message
    b = (FIX / "mypy_attr" / "b_nosuggestion.py").read_text()
    _, result = learn_and_replay(a_before, a_after, da, b, db, "python")
    assert result is None
    assert build_value_mapping(values(da), values(db)) is None


def test_no_replay_when_suggested_name_is_unmapped(tmp_path: Path) -> None:
    a_before, a_after, b, _ = read_case("ts_property", "ts")
    learned = learn_change(a_before, a_after, Range.of(1, 15, 1, 21), "typescript")
    assert isinstance(learned, LearnedChange)
    # values without the suggestion: the fix's "length" cannot be mapped to the new "push"
    res = replay_fix(
        learned.before,
        learned.after,
        ["lenght", "string[]"],
        ["pussh", "number[]"],
        b,
        Range.of(4, 20, 4, 25),
        "typescript",
    )
    assert res is None
    msg = "Property 'pussh' does not exist on type 'number[]'. Did you mean 'push'?"
    assert suggestion_values(msg) == ["push"]


def test_no_replay_when_result_would_not_parse(tmp_path: Path) -> None:
    a_before, a_after, _, _ = read_case("f841_remove", "py")
    (da,) = ruff_text(tmp_path, a_before, "F841", "a.py")
    b = "def only():\n    leftover = 7\n"
    (db,) = ruff_text(tmp_path, b, "F841", "b.py")
    learned = learn_change(a_before, a_after, da.range, "python")
    assert isinstance(learned, LearnedChange) and learned.after == ""
    res = replay_fix(
        learned.before,
        learned.after,
        values(da),
        values(db),
        b,
        db.range,
        "python",
    )
    assert res is None  # deleting the only statement would leave an empty body
    # the same fix on a body with another statement does apply
    b2 = "def only():\n    leftover = 7\n    return 1\n"
    (db2,) = ruff_text(tmp_path, b2, "F841", "b2.py")
    res2 = replay_fix(
        learned.before,
        learned.after,
        values(da),
        values(db2),
        b2,
        db2.range,
        "python",
    )
    assert res2 is not None and res2.new_text == "def only():\n    return 1\n"


def test_no_replay_without_a_grammar(tmp_path: Path) -> None:
    res = replay_fix(
        "import os\n", "", ["os"], ["sys"], "import sys\n", Range.of(0, 7, 0, 10), None
    )
    assert res is None
    res = replay_fix(
        "import os\n", "", ["os"], ["sys"], "import sys\n", Range.of(0, 7, 0, 10), "cobol"
    )
    assert res is None
    ok = replay_fix(
        "import os\n", "", ["os"], ["sys"], "import sys\nx = 1\n", Range.of(0, 7, 0, 10), "python"
    )
    assert ok is not None and ok.new_text == "x = 1\n"


# --------------------------------------------------------------------------- learning noise


def test_learn_noise_when_function_deleted(tmp_path: Path) -> None:
    before = (
        "def helper(data):\n"
        "    scratch = len(data)\n"
        "    first = data[0]\n"
        "    last = data[-1]\n"
        "    return first + last\n"
        "\n"
        "\n"
        "def main():\n"
        "    return 0\n"
    )
    after = "def main():\n    return 0\n"
    (d,) = ruff_text(tmp_path, before, "F841")
    res = learn_change(before, after, d.range, "python")
    assert isinstance(res, NoSolution) and "deleted" in res.reason
    # a small function removed as a whole is noise too
    before2 = "def tiny():\n    scratch = 1\n    return 2\n\n\nx = 3\n"
    after2 = "x = 3\n"
    (d2,) = ruff_text(tmp_path, before2, "F841", "s2.py")
    res2 = learn_change(before2, after2, d2.range, "python")
    assert isinstance(res2, NoSolution) and "deleted" in res2.reason


def test_learn_noise_when_diff_too_large(tmp_path: Path) -> None:
    before = "def run(value):\n    temp = value + 1\n    return value\n"
    extra = "".join(f"    print({i})\n" for i in range(80))
    after = "def run(value):\n" + extra + "    return value\n"
    (d,) = ruff_text(tmp_path, before, "F841")
    res = learn_change(before, after, d.range, "python")
    assert isinstance(res, NoSolution) and "too large" in res.reason
    a_before, a_after, _, _ = read_case("f401_from", "py")
    (d2,) = ruff_text(tmp_path, a_before, "F401", "s2.py")
    res2 = learn_change(a_before, a_after, d2.range, "python", max_diff_lines=1)
    assert isinstance(res2, NoSolution)
    assert isinstance(learn_change(a_before, a_after, d2.range, "python"), LearnedChange)


def test_learn_noise_when_nothing_changed_nearby(tmp_path: Path) -> None:
    before = (
        "def first(value):\n"
        "    temp = value + 1\n"
        "    return value\n"
        "\n"
        "\n"
        "def second(other):\n"
        "    return other\n"
    )
    after = before.replace("return other", "return other * 2")
    (d,) = ruff_text(tmp_path, before, "F841")
    res = learn_change(before, after, d.range, "python")
    assert isinstance(res, NoSolution) and "nothing changed" in res.reason
    same = learn_change(before, before, d.range, "python")
    assert isinstance(same, NoSolution)


def test_learn_adjacent_insertion(tmp_path: Path) -> None:
    before = "def count(items):\n    for item in items:\n        print(item)\n    return total\n"
    after = before.replace("    return total", "    total = 0\n    return total")
    (d,) = ruff_text(tmp_path, before, "F821")
    assert d.range.start.line == 3
    learned = learn_change(before, after, d.range, "python")
    assert isinstance(learned, LearnedChange)
    assert learned.before == "    return total\n"
    assert learned.after == "    total = 0\n    return total\n"
    assert learned.region_before == Range.of(3, 0, 4, 0)
    # replayed in a deeper block, the inserted line takes the new indentation
    b = (
        "class Bag:\n"
        "    def size(self, things):\n"
        "        for thing in things:\n"
        "            print(thing)\n"
        "        return amount\n"
    )
    (db,) = ruff_text(tmp_path, b, "F821", "b.py")
    res = replay_fix(
        learned.before,
        learned.after,
        values(d),
        values(db),
        b,
        db.range,
        "python",
    )
    assert res is not None
    assert res.new_text == b.replace(
        "        return amount", "        amount = 0\n        return amount"
    )


# --------------------------------------------------------------------------- mapping helpers


def test_value_mapping() -> None:
    assert build_value_mapping(["a"], ["b", "c"]) is None
    assert build_value_mapping(["x", "x"], ["y", "z"]) is None
    mapping = build_value_mapping(["collections.OrderedDict"], ["itertools.chain"])
    assert mapping == {
        "collections.OrderedDict": "itertools.chain",
        "collections": "itertools",
        "OrderedDict": "chain",
    }
    assert build_value_mapping(["string[]"], ["number[]"]) == {
        "string[]": "number[]",
        "string": "number",
    }
    text, spans = map_text("temp = temp_total + tempo + userTemp\n", {"temp": "count"})
    assert text == "count = count_total + tempo + userCount\n"
    assert [text[s:e] for s, e in spans] == ["count", "count", "Count"]


def test_tokenize_ignores_whitespace_and_keeps_comments_apart() -> None:
    toks = tokenize("x  ==  None  # note\n", "python")
    assert [(t.kind, t.text) for t in toks] == [
        ("ident", "x"),
        ("punct", "=="),
        ("ident", "None"),
        ("comment", "# note"),
    ]
    ts = tokenize("a?.b // c\nlet s = `t${x}`;", "typescript")
    assert [t.text for t in ts if t.kind != "comment"] == [
        "a",
        "?.",
        "b",
        "let",
        "s",
        "=",
        "`t${x}`",
        ";",
    ]


def test_replay_in_a_long_function_searches_its_header(mypy_results: dict[str, list[Diag]]) -> None:
    a_before, a_after, _, _ = read_case("mypy_optional_union", "py")
    (da,) = mypy_results["mypy_optional_union__a_before.py"]
    learned = learn_change(a_before, a_after, da.range, "python")
    assert isinstance(learned, LearnedChange)
    body = "".join(
        f"    v{i} = str({i})\n    if key == v{i}:\n        return v{i}\n" for i in range(300)
    )
    b = "def resolve(key: str) -> str:\n" + body + "    return None\n"
    last = b.count("\n") - 1
    message = 'Incompatible return value type (got "None", expected "str")'
    res = replay_fix(
        learned.before,
        learned.after,
        values(da),
        values(Diag("return-value", message, Range.of(last, 11, last, 15), "mypy")),
        b,
        Range.of(last, 11, last, 15),
        "python",
    )
    assert res is not None
    assert res.new_text == b.replace("-> str:", "-> str | None:", 1)


def test_replay_keeps_crlf_and_tabs(tmp_path: Path) -> None:
    a_before, a_after, _, _ = read_case("e711", "py")
    (da,) = ruff_text(tmp_path, a_before, "E711", "a.py")
    b = "def f(x):\r\n\tif x == None:\r\n\t\treturn 1\r\n\treturn 0\r\n"
    path = tmp_path / "crlf.py"
    path.write_bytes(b.encode())
    (db,) = ruff(path, "E711")
    _, res = learn_and_replay(a_before, a_after, da, b, db, "python")
    assert res is not None
    assert res.new_text == b.replace("x == None", "x is None")


def test_learn_uses_symbol_path_hint(mypy_results: dict[str, list[Diag]]) -> None:
    before = (
        "class Store:\n"
        "    def lookup(self, key: str) -> str:\n"
        "        if key:\n"
        "            return key\n"
        "        return None\n"
        "\n"
        "    def other(self) -> int:\n"
        "        return 1\n"
    )
    after = before.replace("key: str) -> str:", "key: str) -> str | None:").replace(
        "-> int:", "-> float:"
    )
    problem = Range.of(4, 15, 4, 19)  # the `None` of `return None`, as mypy reports it
    for hint in (["Store", "lookup"], "Store.lookup", None):
        learned = learn_change(before, after, problem, "python", symbol_hint=hint)
        assert isinstance(learned, LearnedChange), hint
        assert learned.before == "    def lookup(self, key: str) -> str:\n"
        assert learned.after == "    def lookup(self, key: str) -> str | None:\n"
    # a hint naming no definition falls back to the function around the problem
    missing = learn_change(before, after, problem, "python", symbol_hint="Nowhere.gone")
    assert isinstance(missing, LearnedChange) and "str | None" in missing.after
