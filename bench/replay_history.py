"""Benchmark the problem memory on real git history: does it offer back the fixes developers made?

    .venv/bin/python bench/replay_history.py REPO_PATH... [--max-commits 400] [--max-problems 300]
        [--select F,E7,E9,B,SIM,RET,C4,PIE] [--teach-share 0.7]

For each repository (a work tree or a bare git directory; read with `git`, never modified):

1. mining: the newest `--max-commits` first-parent commits, oldest first; for each modified
   Python file, real ruff (`--isolated --select ...`, stdin) on the parent's and the commit's
   version. A problem is *fixed by hand in a small hunk* when fewer reports of it (code and
   message) remain and its line lies in a changed hunk of at most `--max-hunk-lines` lines.
   Skipped: commits changing more than 25 Python files, mass reformatting (most hunks change only
   layout: `history.is_reformatting`), files over 300 KB; not counted as fixed by hand: a report
   whose rule is reported again in the changed lines (its message changed with the code it
   quotes) and one whose lines were deleted with 3+ lines around them (code removed).
2. split by time: the earliest 70% of the problems (to the nearest commit boundary) are taught to `codecortex serve` over stdio
   as an editor would (didOpen of the parent's version and its ruff diagnostics forwarded, then
   didChange to the commit's version and its diagnostics); the server learns what it learns.
3. the later 30% (at most `--max-problems`) are asked for: the parent's version opened, its
   diagnostics forwarded, and a `textDocument/codeAction` request at each problem (timed). The
   top "apply past fix" action is classified: none / correct (the result equals the parent's
   version with the developer's hunks at the problem applied — all, or one of them, or one line
   of a line-for-line hunk — ignoring trailing spaces) /
   acceptable (ruff no longer reports it, reports nothing new, the code parses) / wrong.
   `ruff check --fix` and `--fix --unsafe-fixes` run on the same versions for comparison.

Prints one JSON object (per repository and overall); progress on stderr. Uses
CODECORTEX_DATABASE_URL when set, else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import difflib
import hashlib
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "helpers"))

from common import database, log, percentiles  # noqa: E402
from lsphelp import (  # noqa: E402
    VSCODE,
    apply_workspace_edit,
    change_doc,
    command,
    forward,
    open_doc,
    start_client,
)
from lsprotocol import types  # noqa: E402

from codecortex.history.filters import is_reformatting, layout_only_hunks  # noqa: E402
from codecortex.memory.signatures import compute_signature  # noqa: E402

RUFF = str(Path(sys.executable).parent / "ruff")
DEFAULT_SELECT = "F,E7,E9,B,SIM,RET,C4,PIE"
MAX_FILES_PER_COMMIT = 25
MAX_FILE_BYTES = 300_000
FIX_TITLE = "apply past fix"
_NUM = re.compile(r"\d+")


# --------------------------------------------------------------------------- git + ruff


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def git_dir(path: Path) -> Path:
    out = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--absolute-git-dir"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    return Path(out)


def blob(repo: Path, sha: str) -> str | None:
    data = subprocess.run(
        ["git", "--git-dir", str(repo), "cat-file", "blob", sha], capture_output=True, check=True
    ).stdout
    if len(data) > MAX_FILE_BYTES or b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class Ruff:
    """Real ruff on text (stdin), with a fixed rule selection; results cached by text."""

    def __init__(self, select: str) -> None:
        self.select = select
        self.cache: dict[tuple[str, str, str], Any] = {}

    def _run(self, mode: str, path: str, text: str) -> subprocess.CompletedProcess[str]:
        argv = [RUFF, "check", "--isolated", "--select", self.select, "--quiet"]
        if mode == "check":
            argv += ["--output-format=json", "--no-fix", "--exit-zero"]
        else:
            argv += ["--fix", "--exit-zero"] + (["--unsafe-fixes"] if mode == "unsafe" else [])
        argv += ["--stdin-filename", path, "-"]
        return subprocess.run(argv, input=text, capture_output=True, text=True, timeout=60)

    def check(self, path: str, text: str) -> list[dict[str, Any]]:
        key = ("check", path, text)
        if key not in self.cache:
            self.cache[key] = json.loads(self._run("check", path, text).stdout or "[]")
        return list(self.cache[key])

    def fixed(self, path: str, text: str, unsafe: bool) -> str:
        mode = "unsafe" if unsafe else "fix"
        key = (mode, path, text)
        if key not in self.cache:
            proc = self._run(mode, path, text)
            self.cache[key] = proc.stdout if proc.returncode == 0 else text
        return str(self.cache[key])


def pkey(item: dict[str, Any]) -> tuple[str, str]:
    return (item.get("code") or "", _NUM.sub("#", item["message"]))


def lsp_diag(item: dict[str, Any]) -> dict[str, Any]:
    loc, end = item["location"], item["end_location"]
    return {
        "range": {
            "start": {"line": loc["row"] - 1, "character": loc["column"] - 1},
            "end": {"line": end["row"] - 1, "character": end["column"] - 1},
        },
        "severity": 2,
        "source": "Ruff",
        "code": item.get("code") or "",
        "message": item["message"],
    }


def parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True


# --------------------------------------------------------------------------- mining


@dataclass
class Problem:
    n: int
    commit: str
    when: int
    path: str
    old: str
    new: str
    item: dict[str, Any]
    fixed: list[str]  # the parent's version with the developer's change at the problem
    signature: str = ""


@dataclass
class Mined:
    commits: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    files_checked: int = 0
    skipped_problems: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)


def developer_fix(old: str, new: str, line: int, end_line: int) -> tuple[list[str], int] | None:
    """The developer's change at the problem: the parent's text with the hunks touching lines
    line..end_line (+-1) applied — all of them, each alone, and each changed line alone where a
    hunk replaces lines one for one (a hunk may also fix the problem on the next line) — and the
    number of changed lines in them; None when no hunk touches the problem."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    near = [
        k
        for k, (tag, i1, i2, _j1, _j2) in enumerate(ops)
        if tag != "equal" and i1 <= end_line + 1 and max(i1, i2) >= line - 1
    ]
    if not near:
        return None

    def applied(pick: set[int], only_line: tuple[int, int] | None = None) -> str:
        out: list[str] = []
        for k, (_tag, i1, i2, j1, j2) in enumerate(ops):
            if k == (only_line or (-1, 0))[0]:
                d = only_line[1] if only_line else 0
                out.extend(a[i1:i2])
                out[len(out) - (i2 - i1) + d] = b[j1 + d]
            elif k in pick:
                out.extend(b[j1:j2])
            else:
                out.extend(a[i1:i2])
        return "".join(out)

    variants = [applied(set(near))]
    variants += [applied({k}) for k in near if len(near) > 1]
    for k in near:
        tag, i1, i2, j1, j2 = ops[k]
        if tag == "replace" and i2 - i1 == j2 - j1 > 1:
            variants += [applied(set(), (k, d)) for d in range(i2 - i1)]
    changed = sum((ops[k][2] - ops[k][1]) + (ops[k][4] - ops[k][3]) for k in near)
    return variants, changed


def not_a_disappearance(
    old: str, new: str, line: int, end_line: int, item: dict[str, Any], after: list[dict[str, Any]]
) -> str | None:
    """Why a report that went away was not fixed by hand, the same rules the memory learns by:
    the same rule is reported in the changed lines of the new version (its message changed
    with the code it quotes, e.g. a renamed module), or the problem's lines were deleted with 3+
    lines around them and little replaced them (code removed, not fixed)."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    near = [
        op
        for op in ops
        if op[0] != "equal" and op[1] <= end_line + 1 and max(op[1], op[2]) >= line - 1
    ]
    lo, hi = min(op[3] for op in near), max(op[4] for op in near)
    for d in after:
        if d.get("code") == item.get("code") and lo - 1 <= d["location"]["row"] - 1 <= hi:
            return "the same rule is reported in the changed lines"
    for _tag, i1, i2, j1, j2 in near:
        removed, added = i2 - i1, j2 - j1
        if i1 <= line and end_line < i2 and removed - (end_line - line + 1) >= 3:
            if added * 4 <= removed:
                return "deleted with the code around it"
    return None


def mine(repo: Path, ruff: Ruff, max_commits: int, max_hunk_lines: int) -> Mined:
    mined = Mined()
    shas = git(repo, "rev-list", "--first-parent", f"--max-count={max_commits}", "HEAD").split()
    shas.reverse()
    for sha in shas:
        mined.commits += 1
        meta = git(repo, "show", "-s", "--format=%P%x00%at", sha).strip().split("\0")
        parents = meta[0].split()
        if not parents:
            mined.skipped["root commit"] += 1
            continue
        parent, when = parents[0], int(meta[1])
        raw = git(repo, "diff-tree", "-r", "--no-renames", parent, sha)
        changes = []
        for line in raw.splitlines():
            info, _, path = line.partition("\t")
            parts = info.split()
            if len(parts) >= 5 and parts[4] == "M" and path.endswith(".py"):
                changes.append((path, parts[2], parts[3]))
        if not changes:
            mined.skipped["no modified Python file"] += 1
            continue
        if len(changes) > MAX_FILES_PER_COMMIT:
            mined.skipped["too many files"] += 1
            continue
        texts = []
        for path, old_sha, new_sha in changes:
            old, new = blob(repo, old_sha), blob(repo, new_sha)
            if old is not None and new is not None:
                texts.append((path, old, new))
        counts = [
            layout_only_hunks(o.splitlines(keepends=True), n.splitlines(keepends=True))
            for _, o, n in texts
        ]
        if is_reformatting(counts):
            mined.skipped["reformatting"] += 1
            continue
        for path, old, new in texts:
            mined.files_checked += 1
            before, after = ruff.check(path, old), ruff.check(path, new)
            if not parses(new):
                continue
            left = Counter(pkey(d) for d in after)
            gone_budget = Counter(pkey(d) for d in before)
            gone_budget.subtract(left)
            for item in before:
                k = pkey(item)
                if gone_budget[k] <= 0 or not item.get("code"):
                    continue
                sl, el = item["location"]["row"] - 1, item["end_location"]["row"] - 1
                dev = developer_fix(old, new, sl, el)
                if dev is None or dev[1] > max_hunk_lines:
                    continue
                why = not_a_disappearance(old, new, sl, el, item, after)
                if why:
                    mined.skipped_problems[why] += 1
                    continue
                gone_budget[k] -= 1
                mined.problems.append(
                    Problem(len(mined.problems), sha, when, path, old, new, item, dev[0])
                )
    return mined


def cached_mine(repo: Path, ruff: Ruff, args: argparse.Namespace) -> Mined:
    """`mine`, or its result saved by an earlier run with the same HEAD, options and ruff
    (`--mine-cache DIR`): mining does not depend on CodeCortex, only on the history."""
    if not args.mine_cache:
        return mine(repo, ruff, args.max_commits, args.max_hunk_lines)
    version = subprocess.run([RUFF, "--version"], capture_output=True, text=True).stdout.strip()
    head = git(repo, "rev-parse", "HEAD").strip()
    key = hashlib.sha256(
        f"{head} {args.max_commits} {args.max_hunk_lines} {args.select} {version}".encode()
    ).hexdigest()[:16]
    cache = Path(args.mine_cache) / f"mined-{key}.pickle"
    if cache.exists():
        with cache.open("rb") as f:
            return pickle.load(f)  # written by this script
    mined = mine(repo, ruff, args.max_commits, args.max_hunk_lines)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("wb") as f:
        pickle.dump(mined, f)
    return mined


# --------------------------------------------------------------------------- the editor side


async def wait_open_count(conn: Any, path: str, want: int, timeout: float = 20) -> None:
    """Wait until the server has processed a document (its open problems match `want`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cur = await conn.execute(
            "SELECT COUNT(*) AS n FROM detected_problems WHERE file_path = %s AND status = 'open'",
            (path,),
        )
        row = await cur.fetchone()
        if row and int(row["n"]) == want:
            return
        await asyncio.sleep(0.05)


async def teach(
    client: Any,
    conn: Any,
    root: Path,
    ruff: Ruff,
    problems: list[Problem],
    *,
    one_problem: bool = False,
) -> int:
    """Open each taught (commit, file) at the parent's version, then change it to the commit's.

    `one_problem` (online protocol): the change is only the developer's change at that
    problem (its hunk applied to the parent's version), taught in a document of its own."""
    pairs: dict[tuple[str, str], Problem] = {}
    for p in problems:
        pairs.setdefault((p.commit, p.path) if not one_problem else (p.commit, str(p.n)), p)
    for i, p in enumerate(pairs.values()):
        sub = Path(p.commit[:10]) / (str(p.n) if one_problem else "")
        path = root / "taught" / sub / p.path
        path.parent.mkdir(parents=True, exist_ok=True)
        target = p.fixed[0] if one_problem else p.new
        before = [lsp_diag(d) for d in ruff.check(p.path, p.old)]
        after = [lsp_diag(d) for d in ruff.check(p.path, target)]
        uri = open_doc(client, path, p.old, 1)
        forward(client, uri, 1, before)
        await wait_open_count(conn, str(path), len(before))
        change_doc(client, uri, target, 2)
        forward(client, uri, 2, after)
        await wait_open_count(conn, str(path), len(after))
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        if (i + 1) % 25 == 0:
            log(f"  taught {i + 1}/{len(pairs)} file versions")
    return len(pairs)


def classify(p: Problem, result: str | None, ruff: Ruff) -> str:
    if result is None:
        return "none"

    def norm(text: str) -> list[str]:
        return [line.rstrip() for line in text.splitlines()]

    if any(norm(result) == norm(fixed) for fixed in p.fixed):
        return "correct"
    return "acceptable" if removes(p, result, ruff) else "wrong"


def removes(p: Problem, result: str, ruff: Ruff) -> bool:
    """ruff no longer reports the problem (one report fewer), nothing new, and it parses."""
    if not parses(result):
        return False
    was = Counter(pkey(d) for d in ruff.check(p.path, p.old))
    now = Counter(pkey(d) for d in ruff.check(p.path, result))
    k = pkey(p.item)
    return now[k] < was[k] and not any(now[x] > was[x] for x in now)


async def ask(
    client: Any,
    root: Path,
    ruff: Ruff,
    problems: list[Problem],
    latencies: list[float],
    *,
    one_problem: bool = False,
) -> dict[int, tuple[str | None, str]]:
    """The top replay (edited text and its title) for each held-out problem (`one_problem`:
    each asked in a freshly opened document of its own, so that what was taught just before
    is recalled)."""
    by_file: dict[tuple[str, str], list[Problem]] = {}
    for p in problems:
        by_file.setdefault((p.commit, str(p.n) if one_problem else p.path), []).append(p)
    answers: dict[int, tuple[str | None, str]] = {}
    for i, ((commit, key), group) in enumerate(by_file.items()):
        rel = group[0].path
        path = root / "asked" / commit[:10] / (key if one_problem else "") / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        diags = [lsp_diag(d) for d in ruff.check(rel, group[0].old)]
        uri = open_doc(client, path, group[0].old, 1)
        forward(client, uri, 1, diags)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the views are cached once recall + verify ran
            shown = await command(client, "codecortex.showSolutions", uri)
            if shown and shown.get("problems") and not shown.get("checking"):
                break
            await asyncio.sleep(0.05)
        for p in group:
            d = lsp_diag(p.item)
            r = d["range"]
            rng = types.Range(start=types.Position(**r["start"]), end=types.Position(**r["end"]))
            params = types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=rng,
                context=types.CodeActionContext(
                    diagnostics=[
                        types.Diagnostic(
                            range=rng, message=d["message"], source="Ruff", code=d["code"],
                            severity=types.DiagnosticSeverity.Warning,
                        )
                    ]
                ),
            )  # fmt: skip
            t0 = time.perf_counter()
            actions = await client.text_document_code_action_async(params) or []
            latencies.append((time.perf_counter() - t0) * 1000)
            top = next(
                (
                    a
                    for a in actions
                    if isinstance(a, types.CodeAction) and FIX_TITLE in a.title and a.edit
                ),
                None,
            )
            if top is None or top.edit is None:
                answers[p.n] = (None, "")
            else:
                answers[p.n] = (apply_workspace_edit(p.old, uri, top.edit, VSCODE), top.title)
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        if (i + 1) % 25 == 0:
            log(f"  asked {i + 1}/{len(by_file)} file versions")
    return answers


# --------------------------------------------------------------------------- figures


def _diff(old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), n=0)
    )


def share(n: int, d: int) -> float | None:
    return round(n / d, 3) if d else None


def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    kinds = Counter(r["replay"] for r in rows)
    offered = n - kinds["none"]
    good = kinds["correct"] + kinds["acceptable"]
    ruff_fix = sum(r["ruff_fix"] for r in rows)
    ruff_unsafe = sum(r["ruff_unsafe"] for r in rows)
    together = sum(r["ruff_unsafe"] or r["replay"] in ("correct", "acceptable") for r in rows)
    hard = [r for r in rows if not r["ruff_unsafe"]]
    hard_seen = [r for r in hard if r["rule_taught"]]
    seen = [r for r in rows if r["signature_taught"]]

    def good_of(sub: list[dict[str, Any]]) -> dict[str, Any]:
        g = sum(r["replay"] in ("correct", "acceptable") for r in sub)
        return {
            "problems": len(sub),
            "correct": sum(r["replay"] == "correct" for r in sub),
            "acceptable": sum(r["replay"] == "acceptable" for r in sub),
            "wrong": sum(r["replay"] == "wrong" for r in sub),
            "correct_or_acceptable_share": share(g, len(sub)),
        }

    return {
        "held_out": n,
        "replays": dict(kinds),
        "offered": offered,
        "wrong_share_of_offered": share(kinds["wrong"], offered),
        "removed_share": {
            "codecortex": share(good, n),
            "ruff_fix": share(ruff_fix, n),
            "ruff_unsafe_fix": share(ruff_unsafe, n),
            "codecortex_plus_ruff_unsafe": share(together, n),
            "points_over_ruff_unsafe": round(100 * (together - ruff_unsafe) / n, 1) if n else None,
        },
        "ruff_cannot_fix": {**good_of(hard), "rule_fixed_in_taught_part": good_of(hard_seen)},
        "repeat_rate": share(len(seen), n),
        "signature_seen_before": {
            **good_of(seen),
            "exact_developer_change_share": share(
                sum(r["replay"] == "correct" for r in seen), len(seen)
            ),
        },
        "by_rule": {
            code: dict(Counter(r["replay"] for r in rows if r["code"] == code))
            for code, _n in Counter(r["code"] for r in rows).most_common()
        },
    }


async def bench_repo(
    repo_path: Path, args: argparse.Namespace, server_env: dict[str, str], url: str
) -> dict[str, Any]:
    from common import connection

    started = time.perf_counter()
    repo = git_dir(repo_path)
    name = repo_path.name if repo_path.name not in ("repo", ".git") else repo_path.parent.name
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    ruff = Ruff(args.select)
    log(f"{name}: mining {args.max_commits} first-parent commits")
    mined = cached_mine(repo, ruff, args)
    problems = sorted(mined.problems, key=lambda p: (p.when, p.n))
    for p in problems:
        p.signature = compute_signature("ruff", p.item["code"], p.item["message"], "python").key
    # a commit is taught whole or asked whole: the commit boundary nearest to the share
    want = int(len(problems) * args.teach_share)
    bounds = [i for i in range(1, len(problems)) if problems[i].commit != problems[i - 1].commit]
    cut = min(bounds, key=lambda i: (abs(i - want), i)) if bounds else want
    taught, held = problems[:cut], problems[cut:][: args.max_problems]
    if args.online:  # within a commit, the order a developer going down the files would take
        held.sort(key=lambda p: (p.when, p.commit, p.path, p.item["location"]["row"], p.n))
    mined_s = time.perf_counter() - started
    log(
        f"{name}: {len(problems)} problems fixed by hand; teaching {len(taught)}, asking {len(held)}"
    )

    root = Path(tempfile.mkdtemp(prefix=f"ccbench-replay-{name}-"))
    (root / "pyproject.toml").write_text(
        "[tool.ruff.lint]\nselect = [" + ", ".join(f'"{s}"' for s in args.select.split(",")) + "]\n"
    )
    env = {**server_env, "CODECORTEX_USER": f"bench-{name}"}
    client = await start_client(env, root, VSCODE)
    latencies: list[float] = []
    try:
        async with connection(url) as conn:
            t0 = time.perf_counter()
            pairs = await teach(client, conn, root, ruff, taught)
            teach_s = time.perf_counter() - t0
            cur = await conn.execute(
                "SELECT COUNT(*) AS n FROM past_solutions s JOIN users u ON u.id = s.user_id"
                " WHERE u.name = %s",
                (f"bench-{name}",),
            )
            row = await cur.fetchone()
            learned = int(row["n"]) if row else 0
            t0 = time.perf_counter()
            if not args.online:
                answers = await ask(client, root, ruff, held, latencies)
            else:  # prequential: each held-out problem asked, then its own fix taught
                answers = {}
                for i, p in enumerate(held):
                    answers.update(await ask(client, root, ruff, [p], latencies, one_problem=True))
                    await teach(client, conn, root, ruff, [p], one_problem=True)
                    if (i + 1) % 25 == 0:
                        log(f"  online: asked and taught {i + 1}/{len(held)}")
            ask_s = time.perf_counter() - t0
    finally:
        await client.shutdown_session()
        shutil.rmtree(root, ignore_errors=True)

    taught_rules = {p.item["code"] for p in taught}
    taught_sigs = {p.signature for p in taught}
    rows = []
    details: list[dict[str, Any]] = []
    examples: dict[str, list[dict[str, Any]]] = {"wrong": [], "correct": [], "acceptable": []}
    for k, p in enumerate(held):
        if args.online and k:  # what was taught before this problem was asked
            taught_rules.add(held[k - 1].item["code"])
            taught_sigs.add(held[k - 1].signature)
        result, title = answers.get(p.n, (None, ""))
        kind = classify(p, result, ruff)
        rows.append(
            {
                "code": p.item["code"],
                "replay": kind,
                "verified": "unverified" not in title if result is not None else None,
                "ruff_fix": removes(p, ruff.fixed(p.path, p.old, unsafe=False), ruff),
                "ruff_unsafe": removes(p, ruff.fixed(p.path, p.old, unsafe=True), ruff),
                "rule_taught": p.item["code"] in taught_rules,
                "signature_taught": p.signature in taught_sigs,
            }
        )
        detail = {
            "commit": p.commit[:10],
            "path": p.path,
            "line": p.item["location"]["row"],
            "problem": f"{p.item['code']} {p.item['message']}",
            "replay": kind,
            "replay_diff": _diff(p.old, result)[:800] if result is not None else "",
            "developer_diff": _diff(p.old, p.fixed[0])[:800],
        }
        if args.details:
            before = taught + (held[:k] if args.online else [])
            same = [t for t in before if t.signature == p.signature]
            detail["taught_same_signature"] = len(same)
            detail["taught_examples"] = [_diff(t.old, t.fixed[0])[:300] for t in same[-2:]]
            details.append(detail)
        if kind in examples and len(examples[kind]) < 3 and result is not None:
            examples[kind].append(detail)
    out = {
        "repository": name,
        "commits_mined": mined.commits,
        "commits_skipped": dict(mined.skipped),
        "disappearances_not_counted": dict(mined.skipped_problems),
        "file_versions_checked": mined.files_checked,
        "problems_fixed_by_hand": len(problems),
        "taught_problems": len(taught),
        "taught_file_versions": pairs,
        "solutions_learned": learned,
        **figures(rows),
        "code_action_latency": percentiles(latencies) if latencies else None,
        "seconds": {
            "mining": round(mined_s, 1),
            "teaching": round(teach_s, 1),
            "asking": round(ask_s, 1),
            "total": round(time.perf_counter() - started, 1),
        },
        "examples": examples,
    }
    if args.details:
        out["problems"] = details
    out["_rows"] = rows
    log(
        f"{name}: {out['replays']} of {len(held)}; wrong/offered={out['wrong_share_of_offered']}"
        f" ({out['seconds']['total']}s)"
    )
    return out


async def bench(args: argparse.Namespace, url: str, server_env: dict[str, str]) -> dict[str, Any]:
    from common import connection

    async with connection(url):
        pass  # migrate once before the servers start
    results = [await bench_repo(Path(p).resolve(), args, server_env, url) for p in args.repos]
    rows = [r for res in results for r in res.pop("_rows")]
    all_lat = [res["code_action_latency"] for res in results if res["code_action_latency"]]
    return {
        "benchmark": "replay_history",
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
        "options": {
            "max_commits": args.max_commits,
            "max_problems": args.max_problems,
            "select": args.select,
            "teach_share": args.teach_share,
            "max_hunk_lines": args.max_hunk_lines,
            "protocol": "online" if args.online else "frozen",
        },
        "repositories": results,
        "overall": {
            **figures(rows),
            "code_action_latency_p95_ms_per_repository": [x["p95_ms"] for x in all_lat],
        },
        "targets": {
            "wrong_share_of_offered_max": 0.01,
            "ruff_cannot_fix_rule_taught_correct_or_acceptable_min": 0.5,
            "points_over_ruff_unsafe_min": 20,
            "signature_seen_exact_share_min": 0.4,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repos", nargs="+", metavar="REPO_PATH")
    parser.add_argument("--max-commits", type=int, default=400)
    parser.add_argument("--max-problems", type=int, default=300, help="held-out problems asked")
    parser.add_argument("--select", default=DEFAULT_SELECT, help="ruff rules (comma-separated)")
    parser.add_argument("--teach-share", type=float, default=0.7)
    parser.add_argument("--max-hunk-lines", type=int, default=12)
    parser.add_argument(
        "--details", action="store_true", help="every held-out problem with both diffs"
    )
    parser.add_argument(
        "--online",
        action="store_true",
        help="after each held-out problem is asked, teach the developer's change at it",
    )
    parser.add_argument(
        "--mine-cache", metavar="DIR", help="keep mined problems here, reused by later runs"
    )
    args = parser.parse_args()
    with database("ccbench-replay") as db:
        result = asyncio.run(bench(args, db.url, db.server_env))
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
