"""Re-create tests/corpus/messages.jsonl by running the real tools on tests/fixtures/detectors/.

Not run in CI (it needs node tools, rustc, cargo-clippy and gcc). Usage:

    .venv/bin/python tests/corpus/regenerate.py [--node-bin DIR] [--check]

--node-bin is a directory holding tsc, eslint and pyright, plus a sibling node_modules with
@eslint/js (default: /work/toolcache/node_modules/.bin; install with
`npm install --prefix /work/toolcache typescript eslint @eslint/js pyright`). --check only
prints a per-tool count and whether the result differs from the stored file.

Each line of the corpus is a JSON object:
    tool     the tool name as it reports itself ("ruff", "mypy", "pyright", "tsc", ...)
    code     the rule or error code as a string ("" when the tool gives none)
    message  the message exactly as the tool printed it
    group    the expected grouping: messages with the same group are the same problem and must
             get the same signature key; different groups must get different keys
    origin   "real" (printed by the tool during regeneration)
    where    fixture file and 1-based line

Group labels come from information independent of codecortex.memory.signatures: the tool's code plus
a hand-written variant table (VARIANTS) keyed by fixed message fragments, pyflakes' message
class names, ESLint's messageId, and the hand labels of the Python traceback snippets.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures" / "detectors"
OUT = HERE / "messages.jsonl"

# (tool, code) -> [(fragment that identifies the variant, variant label)]; first match wins.
VARIANTS: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("mypy", "attr-defined"): [("Module ", "module-attr"), ("has no attribute", "attr")],
    ("mypy", "call-arg"): [
        ("Too many arguments", "too-many"),
        ("Unexpected keyword argument", "unexpected-kw"),
        ("Missing positional argument", "missing-positional"),
    ],
    # "Argument 1 to ..." (positional) and 'Argument "amount" to ...' (keyword) need different
    # fixes, so they are different problems.
    ("mypy", "arg-type"): [('Argument "', "keyword"), ("Argument ", "positional")],
    ("mypy", "import-not-found"): [("Cannot find implementation", "not-found")],
    ("pyright", "reportCallIssue"): [
        ("Expected ", "arity"),
        ("No parameter named", "unknown-kw"),
        ("No overloads for", "no-overload"),
    ],
    ("pyright", "reportAttributeAccessIssue"): [
        ("Cannot access attribute", "attr"),
        ("is not a known attribute of module", "module-attr"),
    ],
    ("pyright", "reportRedeclaration"): [
        ("Function declaration", "function"),
        ("Method declaration", "method"),
        ("Class declaration", "class"),
    ],
    ("gcc", ""): [
        ("undeclared (first use in this function)", "undeclared"),
        ("expected", "syntax-expected"),
    ],
}


def find_tool(name: str, node_bin: Path | None = None) -> str | None:
    if node_bin is not None and (node_bin / name).exists():
        return str(node_bin / name)
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def variant(tool: str, code: str, message: str) -> str:
    for fragment, label in VARIANTS.get((tool, code), []):
        if fragment in message:
            return f"{tool}:{code}:{label}"
    return f"{tool}:{code}"


def entry(
    tool: str, code: str, message: str, where: str, group: str | None = None
) -> dict[str, Any]:
    return {
        "tool": tool,
        "code": code,
        "message": message,
        "group": group or variant(tool, code, message),
        "origin": "real",
        "where": where,
    }


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=300, env=env, check=False
    )
    return proc.stdout + ("" if proc.stdout.strip() else proc.stderr)


def ruff(work: Path) -> list[dict[str, Any]]:
    exe = find_tool("ruff")
    assert exe, "ruff not found"
    out = run(
        [
            exe,
            "check",
            "--isolated",
            "--select",
            "ALL",
            "--output-format=json",
            "--no-fix",
            "--exit-zero",
            "python/ruff_cases.py",
        ],
        work,
    )
    return [
        entry("ruff", d["code"] or "", d["message"], f"ruff_cases.py:{d['location']['row']}")
        for d in json.loads(out)
    ]


def mypy(work: Path) -> list[dict[str, Any]]:
    exe = find_tool("mypy")
    assert exe, "mypy not found"
    out = run(
        [
            exe,
            "--output",
            "json",
            "--no-incremental",
            "--cache-dir",
            os.devnull,
            "--config-file",
            "",
            "python/mypy_cases.py",
        ],
        work,
    )
    res = []
    for line in out.splitlines():
        d = json.loads(line)
        if d["severity"] == "note":
            continue
        res.append(entry("mypy", d["code"] or "", d["message"], f"mypy_cases.py:{d['line']}"))
    return res


def pyflakes(work: Path) -> list[dict[str, Any]]:
    # Messages as the pyflakes CLI prints them (no code); the group is pyflakes' message class.
    from pyflakes import api, reporter

    class Collect(reporter.Reporter):
        def __init__(self) -> None:
            self.items: list[Any] = []

        def flake(self, message: Any) -> None:
            self.items.append(message)

    rep = Collect()
    path = work / "python" / "pyflakes_cases.py"
    api.check(path.read_text(), "pyflakes_cases.py", rep)
    res = []
    for m in rep.items:
        text = m.message % m.message_args
        res.append(
            entry(
                "pyflakes",
                "",
                text,
                f"pyflakes_cases.py:{m.lineno}",
                group=f"pyflakes:{type(m).__name__}",
            )
        )
    return res


def pyright(work: Path, node_bin: Path | None) -> list[dict[str, Any]]:
    exe = find_tool("pyright", node_bin)
    if exe is None:
        print("pyright not found, skipped", file=sys.stderr)
        return []
    res = []
    for name in ("mypy_cases.py", "pyflakes_cases.py"):
        out = run([exe, "--outputjson", f"python/{name}"], work)
        for d in json.loads(out)["generalDiagnostics"]:
            code = d.get("rule", "")
            res.append(
                entry("pyright", code, d["message"], f"{name}:{d['range']['start']['line'] + 1}")
            )
    return res


def tsc(work: Path, node_bin: Path | None) -> list[dict[str, Any]]:
    exe = find_tool("tsc", node_bin)
    if exe is None:
        print("tsc not found, skipped", file=sys.stderr)
        return []
    out = run([exe, "-p", ".", "--pretty", "false"], work / "ts")
    res = []

    for line in out.splitlines():
        m = re.match(r"^(.*)\((\d+),(\d+)\): (error|warning) TS(\d+): (.*)$", line)
        if m:
            res.append(entry("tsc", m.group(5), m.group(6), f"cases.ts:{m.group(2)}"))
    return res


def eslint(work: Path, node_bin: Path | None) -> list[dict[str, Any]]:
    exe = find_tool("eslint", node_bin)
    if exe is None or node_bin is None:
        print("eslint not found, skipped", file=sys.stderr)
        return []
    (work / "js" / "node_modules").symlink_to(node_bin.parent)
    out = run([exe, "--format", "json", "cases.js"], work / "js")
    res = []
    for f in json.loads(out):
        for d in f["messages"]:
            rule = d.get("ruleId") or ""
            res.append(
                entry(
                    "eslint",
                    rule,
                    d["message"],
                    f"cases.js:{d['line']}",
                    group=f"eslint:{rule}:{d.get('messageId', '')}",
                )
            )
    return res


def _rust_messages(lines: str, tool_default: str, where: str) -> list[dict[str, Any]]:
    res = []
    for line in lines.splitlines():
        if not line.startswith("{"):
            continue
        d = json.loads(line)
        if d.get("reason") == "compiler-message":
            d = d["message"]
        if d.get("level") not in ("error", "warning") or not d.get("code"):
            continue  # summaries ("aborting due to ...") have no code
        code = d["code"]["code"]
        tool = "clippy" if code.startswith("clippy::") else tool_default
        span = next((s for s in d.get("spans", []) if s.get("is_primary")), None)
        line_no = span["line_start"] if span else 0
        res.append(entry(tool, code, d["message"], f"{where}:{line_no}"))
    return res


def rust(work: Path) -> list[dict[str, Any]]:
    rustc = find_tool("rustc")
    cargo = find_tool("cargo")
    res: list[dict[str, Any]] = []
    if rustc is None:
        print("rustc not found, skipped", file=sys.stderr)
        return res
    for src in ("rust/src/main.rs", "rust_borrow.rs"):
        out = subprocess.run(
            [
                rustc,
                "--edition",
                "2021",
                "--error-format=json",
                "--emit=metadata",
                "-o",
                str(work / "out.rmeta"),
                src,
            ],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
        ).stderr
        res += _rust_messages(out, "rustc", Path(src).name)
    if cargo is not None:
        env = dict(os.environ, CARGO_TARGET_DIR=str(work / "target"))
        out = run([cargo, "clippy", "--quiet", "--message-format=json"], work / "rust_clippy", env)
        res += _rust_messages(out, "rustc", "rust_clippy/lib.rs")
    return res


def gcc(work: Path) -> list[dict[str, Any]]:
    exe = find_tool("gcc")
    if exe is None:
        print("gcc not found, skipped", file=sys.stderr)
        return []
    res = []
    # Once with ASCII quotes (C locale) and once with typographic quotes (UTF-8 locale): the
    # same problem must get the same key whichever locale the compiler ran in.
    for locale in ("C", "C.UTF-8"):
        env = dict(os.environ, LC_ALL=locale)
        for src in ("c/cases.c", "c/warnings.c"):
            out = subprocess.run(
                [exe, "-fsyntax-only", "-Wall", "-Wextra", "-fdiagnostics-format=json", src],
                cwd=work,
                capture_output=True,
                text=True,
                env=env,
                check=False,
            ).stderr
            for d in json.loads(out):
                if d["kind"] not in ("error", "warning"):
                    continue
                code = d.get("option") or ""
                line_no = d["locations"][0]["caret"]["line"] if d.get("locations") else 0
                res.append(entry("gcc", code, d["message"], f"{Path(src).name}:{line_no}"))
    return res


def tracebacks(work: Path) -> list[dict[str, Any]]:
    sys.path.insert(0, str(work / "python"))
    import tracebacks as tb  # type: ignore[import-not-found]

    res = []
    for label, snippet in tb.SNIPPETS:
        proc = subprocess.run(
            [sys.executable, "-c", snippet], capture_output=True, text=True, check=False
        )
        last = proc.stderr.strip().splitlines()[-1]
        exc = last.partition(":")[0].rsplit(".", 1)[-1]
        res.append(
            entry("python", exc, last, f"tracebacks.py:{snippet!r}", group=f"python:{exc}:{label}")
        )
    return res


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--node-bin", default="/work/toolcache/node_modules/.bin")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    node_bin = Path(args.node_bin) if Path(args.node_bin).is_dir() else None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "fixtures"
        shutil.copytree(FIXTURES, work)
        entries = (
            ruff(work)
            + mypy(work)
            + pyflakes(work)
            + pyright(work, node_bin)
            + tsc(work, node_bin)
            + eslint(work, node_bin)
            + rust(work)
            + gcc(work)
            + tracebacks(work)
        )
    text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["tool"]] = counts.get(e["tool"], 0) + 1
    print(json.dumps(counts), "total", len(entries))
    if args.check:
        same = OUT.exists() and OUT.read_text() == text
        print("unchanged" if same else "differs from stored corpus")
        return 0 if same else 1
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
