"""Tree-sitter grammars from PyPI: which language a file is, a cached parser per language.

Every module that parses code goes through here so that grammar loading happens once per process.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import PurePath

from tree_sitter import Language, Parser, Tree

EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
}

# LSP languageId -> our grammar name
LANGUAGE_IDS: dict[str, str] = {
    "python": "python",
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "typescript": "typescript",
    "typescriptreact": "tsx",
    "go": "go",
    "rust": "rust",
    "java": "java",
}


# Each grammar's PyPI package and the function in it that returns the language.
_GRAMMAR_MODULES = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
}


def _loader(name: str) -> Callable[[], object]:
    module, function = _GRAMMAR_MODULES[name]  # KeyError: no grammar of that name
    loader: Callable[[], object] = getattr(importlib.import_module(module), function)
    return loader


SUPPORTED: tuple[str, ...] = ("python", "javascript", "typescript", "tsx", "go", "rust", "java")


_POSIX = os.name == "posix"


def language_for_path(path: str | PurePath) -> str | None:
    """The grammar name for a file path, or None when no grammar covers it."""
    s = str(path)
    if _POSIX:
        # PurePath(s).suffix without building the path (called for every file of a workspace)
        name = s.rsplit("/", 1)[-1]
        if name not in ("", ".", ".."):
            i = name.rfind(".")
            return EXTENSIONS.get(name[i:].lower() if 0 < i < len(name) - 1 else "")
    return EXTENSIONS.get(PurePath(s).suffix.lower())


def normalise_language(language: str | None) -> str | None:
    """Map an LSP languageId or a grammar name to a grammar name we ship."""
    if not language:
        return None
    language = language.lower()
    if language in SUPPORTED:
        return language
    return LANGUAGE_IDS.get(language)


@cache
def get_language(name: str) -> Language:
    """The tree-sitter Language for a grammar name (raises KeyError for unknown names)."""
    return Language(_loader(name)())


_local = threading.local()


def get_parser(name: str) -> Parser:
    """A parser for `name`, one per thread (tree-sitter parsers are not thread-safe)."""
    parsers: dict[str, Parser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get(name)
    if parser is None:
        parser = parsers[name] = Parser(get_language(name))
    return parser


RECENT_TREES = 8  # parses kept per thread: one text is often parsed by several steps in a row


def parse(text: str | bytes, language: str, *, remember: bool = True) -> Tree:
    """The syntax tree of `text`. The last few trees of each thread are kept, so the steps
    that look at one text in turn (context, enclosing function, syntax errors) parse it once.
    Trees are read-only here: nobody edits them (`Tree.edit`) or parses incrementally.
    `remember=False` parses without keeping the tree (a file analysed once, in a worker: its tree
    is freed as soon as its analysis drops it, while its memory is still in the cache)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if not remember:
        return get_parser(language).parse(data)
    recent: OrderedDict[tuple[str, bytes], Tree] | None = getattr(_local, "recent", None)
    if recent is None:
        recent = _local.recent = OrderedDict()
    key = (language, data)
    tree = recent.get(key)
    if tree is not None:
        recent.move_to_end(key)
        return tree
    tree = get_parser(language).parse(data)
    recent[key] = tree
    if len(recent) > RECENT_TREES:
        recent.popitem(last=False)
    return tree


@lru_cache(maxsize=16)
def parse_recent(text: str, language: str) -> Tree:
    """`parse`, remembered for the last few texts: the document every candidate fix is replayed
    on is asked for again per candidate and per problem. The tree is shared: read it, never
    `edit` it."""
    return parse(text, language)


@lru_cache(maxsize=256)
def syntax_error_count(text: str | bytes, language: str) -> int:
    """Number of ERROR / MISSING nodes in the parse of `text` (0 for clean code). Remembered
    for recent texts (every candidate replayed on a document compares against it)."""
    tree = parse(text, language)
    if not tree.root_node.has_error:
        return 0
    count = 0
    cursor = tree.walk()
    visited_children = False
    while True:
        node = cursor.node
        if not visited_children:
            if node is not None and (node.is_error or node.is_missing):
                count += 1
                visited_children = True  # don't descend into an error subtree
            elif node is not None and node.has_error and cursor.goto_first_child():
                continue
            else:
                visited_children = True
        if cursor.goto_next_sibling():
            visited_children = False
        elif not cursor.goto_parent():
            break
    return count
