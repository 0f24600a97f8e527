"""Knowledge items: the workspace's docs chunked by heading, plus notes and snippets.

Docs are re-ingested incrementally: a chunk whose content hash is already stored is kept, new
chunks are added, chunks that disappeared from the file are removed.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from codecortex.files.listing import list_workspace_files
from codecortex.files.text import read_text_file
from codecortex.knowledge.embeddings import Embedder, HashEmbedder
from codecortex.store import knowledge as store
from codecortex.store import solutions as solution_store

DOC_SUFFIXES = {".md", ".markdown", ".rst", ".txt", ".adoc"}
MAX_CHUNK_CHARS = 4000
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")


@dataclass
class Chunk:
    title: str
    content: str
    line_start: int  # 1-based
    line_end: int

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(f"{self.title}\x00{self.content}".encode()).hexdigest()


def chunk_document(text: str, suffix: str) -> list[Chunk]:
    """Split a Markdown / reStructuredText / plain text document at its headings."""
    lines = text.splitlines()
    starts: list[tuple[int, str]] = []
    in_fence = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        if in_fence:
            continue
        if suffix in (".md", ".markdown"):
            m = _MD_HEADING.match(line)
            if m:
                starts.append((i, m.group(2)))
        elif (
            suffix == ".rst"
            and i > 0
            and _RST_UNDERLINE.match(line)
            and lines[i - 1].strip()
            and len(line.strip()) >= len(lines[i - 1].strip())
        ):
            starts.append((i - 1, lines[i - 1].strip()))
    if not starts or starts[0][0] != 0:
        starts.insert(0, (0, ""))
    chunks: list[Chunk] = []
    for n, (start, title) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        body = "\n".join(lines[start:end]).strip()
        if not body:
            continue
        for offset in range(0, len(body), MAX_CHUNK_CHARS):
            chunks.append(Chunk(title, body[offset : offset + MAX_CHUNK_CHARS], start + 1, end))
    return chunks


def iter_doc_files(root: Path, max_file_size: int = 2_000_000) -> Iterable[Path]:
    """README, docs/ and other Markdown/rst/text files, honouring .gitignore inside git."""
    names, _in_git = list_workspace_files(root)
    for rel in names:
        path = root / rel
        if path.suffix.lower() not in DOC_SUFFIXES:
            continue
        try:
            if path.is_file() and path.stat().st_size <= max_file_size:
                yield path
        except OSError:
            continue


ProgressFn = Callable[[float, str], Awaitable[None]]


async def ingest_file(
    conn: psycopg.AsyncConnection[Any],
    embedder: Embedder,
    repo_id: Any,
    root: Path,
    path: Path,
    max_file_size: int = 2_000_000,
    *,
    user_id: Any = None,
    visibility: str = "private",
) -> tuple[int, int]:
    """Sync one doc file's chunks, owned by `user_id`; returns (added, removed).

    Chunks are private to their owner unless `visibility` is "team" (the shareDocs setting);
    a change of `visibility` applies to the file's stored chunks too."""
    rel = path.relative_to(root).as_posix()
    existing = await store.doc_hashes(conn, repo_id, rel, user_id)
    await store.set_doc_visibility(conn, repo_id, rel, user_id, visibility)
    text, _reason = await asyncio.to_thread(read_text_file, path, max_file_size)
    chunks = chunk_document(text, path.suffix.lower()) if text is not None else []
    wanted = {c.content_hash: c for c in chunks}
    stale = [item_id for h, item_id in existing.items() if h not in wanted]
    await store.delete_items(conn, stale)
    added: list[tuple[Any, str, str]] = []
    for h, chunk in wanted.items():
        if h in existing:
            continue
        item_id = await store.add_item(
            conn,
            store.NewItem(
                kind="doc",
                title=chunk.title or rel,
                content=chunk.content,
                content_hash=h,
                repo_id=repo_id,
                source_path=rel,
                line_start=chunk.line_start,
                line_end=chunk.line_end,
                user_id=user_id,
                visibility=visibility,
            ),
        )
        added.append((item_id, f"{chunk.title}\n{chunk.content}", h))
    await embed_items(conn, embedder, added)
    return len(added), len(stale)


async def embed_items(
    conn: psycopg.AsyncConnection[Any], embedder: Embedder, rows: list[tuple[Any, str, str]]
) -> None:
    if not rows or not isinstance(embedder, HashEmbedder):
        return  # remote embedders are filled in by the backfill job
    vectors = embedder.embed_array([t for _, t, _ in rows])
    await solution_store.upsert_embeddings(
        conn,
        "item",
        [(i, v, h) for (i, _, h), v in zip(rows, vectors, strict=True)],
        embedder.name,
    )


async def ingest_workspace(
    conn: psycopg.AsyncConnection[Any],
    embedder: Embedder,
    repo_id: Any,
    root: Path,
    *,
    max_file_size: int = 2_000_000,
    progress: ProgressFn | None = None,
    user_id: Any = None,
    visibility: str = "private",
) -> dict[str, int]:
    # git ls-files and the walk run on a worker thread: the server's event loop never waits.
    files = sorted(await asyncio.to_thread(lambda: list(iter_doc_files(root, max_file_size))))
    known = await store.doc_paths(conn, repo_id, user_id)
    present = {p.relative_to(root).as_posix() for p in files}
    added = removed = 0
    for n, path in enumerate(files):
        a, r = await ingest_file(
            conn, embedder, repo_id, root, path, max_file_size,
            user_id=user_id, visibility=visibility,
        )  # fmt: skip
        added, removed = added + a, removed + r
        if progress is not None:
            await progress((n + 1) / max(len(files), 1), path.relative_to(root).as_posix())
    for rel in known - present:  # files deleted since the last run
        _a, r = await ingest_file(
            conn, embedder, repo_id, root, root / rel, max_file_size,
            user_id=user_id, visibility=visibility,
        )  # fmt: skip
        removed += r
    return {"files": len(files), "added": added, "removed": removed}


async def add_note(
    conn: psycopg.AsyncConnection[Any],
    embedder: Embedder,
    *,
    user_id: Any,
    repo_id: Any,
    text: str,
    title: str = "",
    tags: list[str] | None = None,
    kind: str = "note",
    source_path: str | None = None,
    line_start: int | None = None,
    visibility: str = "private",
) -> Any:
    title = title or text.strip().splitlines()[0][:80] if text.strip() else title
    h = hashlib.sha256(f"{kind}\x00{title}\x00{text}".encode()).hexdigest()
    item_id = await store.add_item(
        conn,
        store.NewItem(
            kind=kind,
            title=title,
            content=text,
            content_hash=h,
            user_id=user_id,
            repo_id=repo_id,
            source_path=source_path,
            line_start=line_start,
            tags=list(tags or []),
            visibility=visibility,
        ),
    )
    await embed_items(conn, embedder, [(item_id, f"{title}\n{text}", h)])
    return item_id
