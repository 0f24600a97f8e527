"""Each signature's stored fixes, kept prepared in memory between recalls.

Recall replays the stored fixes of every open problem's signature on the new code. Reading them
(up to `memory.MAX_STORED_CANDIDATES` rows of code per signature) and preparing them (their tokens, the
templates generalised from them) on every recall cost more than all the rest of it. This cache
keeps them per developer and signature, and before using them reads one version number per
signature (migration 013): every change recall could see (a fix stored, deleted, reused,
rejected, shared or made private, by anyone) raised it, and that signature's fixes are read
again. So what recall replays is always what a fresh read would give.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import psycopg

from codecortex.memory.tokens import tokenize
from codecortex.store import solutions as solution_store

MAX_CACHED_ROWS = 50_000  # over every cached signature (a row holds its code: ~1-2 KB)


@dataclass(frozen=True, slots=True)
class Tokens:
    """A stored fix's old code as distinct tokens: those that are none of its placeholder
    values, and each value found among them with the index of its last place in the value
    list (where a replay takes its new value from)."""

    rest: frozenset[str]
    values: tuple[tuple[str, int], ...]
    value_count: int

    def mapped(self, new_values: list[str]) -> frozenset[str]:
        """The tokens with the fix's placeholder values taken as `new_values` (as the replay
        maps them: only when both lists have the same length)."""
        if not self.values:
            return self.rest
        if self.value_count != len(new_values):
            return self.rest | {v for v, _ in self.values}
        return self.rest | {new_values[j] for _, j in self.values}


def _tokens_of(row: dict[str, Any], language: str | None) -> Tokens:
    found = {t.text for t in tokenize(str(row.get("before_text") or ""), language)}
    old_values = [str(v) for v in row.get("signature_values") or []]
    last = {v: j for j, v in enumerate(old_values)}
    present = tuple((v, j) for v, j in last.items() if v in found)
    return Tokens(frozenset(found - {v for v, _ in present}), present, len(old_values))


@dataclass
class Candidates:
    """The stored fixes of one signature visible to one developer, best by reuse first."""

    version: int | None
    rows: list[dict[str, Any]]
    _tokens: dict[str | None, list[Tokens]] = field(default_factory=dict)
    _by_reuse: tuple[list[dict[str, Any]], tuple[tuple[str, str], ...]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def token_sets(self, language: str | None) -> list[Tokens]:
        """The distinct tokens of each row's old code (computed once per language)."""
        with self._lock:
            sets = self._tokens.get(language)
            if sets is None:
                sets = [_tokens_of(r, language) for r in self.rows]
                self._tokens[language] = sets
            return sets

    def by_reuse(self) -> tuple[list[dict[str, Any]], tuple[tuple[str, str], ...]]:
        """The rows most reused first, and their (old code, new code) changes: what fix
        templates are generalised from (computed once)."""
        with self._lock:
            if self._by_reuse is None:
                rows = sorted(self.rows, key=lambda r: int(r.get("reuse_count") or 0), reverse=True)
                changes = tuple((str(r["before_text"]), str(r["after_text"])) for r in rows)
                self._by_reuse = (rows, changes)
            return self._by_reuse


NONE = Candidates(None, [])


class CandidateCache:
    """Per process (one per `Memory`); safe to use from one event loop."""

    def __init__(self, max_rows: int = MAX_CACHED_ROWS) -> None:
        self.max_rows = max_rows
        self._entries: OrderedDict[tuple[str, str], Candidates] = OrderedDict()
        self._rows = 0
        self.reads = 0  # signatures read from the database (tests, bench)

    async def get(
        self,
        conn: psycopg.AsyncConnection[Any],
        user_id: Any,
        signatures: list[str],
        per_signature: int,
    ) -> dict[str, Candidates]:
        versions = await solution_store.signature_versions(conn, signatures)
        out: dict[str, Candidates] = {}
        stale: list[str] = []
        for sig in signatures:
            version = versions.get(sig)
            if version is None:
                out[sig] = NONE  # no stored fix of this signature, for anyone
                self._drop((str(user_id), sig))
                continue
            entry = self._entries.get((str(user_id), sig))
            if entry is not None and entry.version == version:
                self._entries.move_to_end((str(user_id), sig))
                out[sig] = entry
            else:
                stale.append(sig)
        if stale:
            read = await solution_store.solutions_for_signatures(
                conn, user_id, stale, per_signature=per_signature
            )
            self.reads += len(stale)
            for sig in stale:
                entry = Candidates(versions[sig], read.get(sig, []))
                out[sig] = entry
                self._put((str(user_id), sig), entry)
        return out

    def _drop(self, key: tuple[str, str]) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._rows -= len(old.rows)

    def _put(self, key: tuple[str, str], entry: Candidates) -> None:
        self._drop(key)
        self._entries[key] = entry
        self._rows += len(entry.rows)
        while self._rows > self.max_rows and len(self._entries) > 1:
            _, evicted = self._entries.popitem(last=False)
            self._rows -= len(evicted.rows)
