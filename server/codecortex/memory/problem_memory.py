"""The problem memory: record diagnostics as detected problems, resolve the ones that went away
and learn their fix, and recall known fixes (replayed on the new code) for the ones still open.

Used by the language server (diagnostics forwarded by the editor) and by `codecortex check`
(diagnostics from detectors). Plain Python over `codecortex.store`; no LSP types here.
`Memory` is the one object callers hold; its parts live in `observe` (problems, resolution,
stored solutions), `recall` (history, verified fixes, related knowledge, search) and
`fix_options` (stored fixes replayed on new code); what they answer with is in `views`.
"""

from __future__ import annotations

from codecortex.config import Settings
from codecortex.knowledge.embeddings import Embedder, HashEmbedder
from codecortex.memory.candidates import CandidateCache
from codecortex.memory.observe import Observing
from codecortex.memory.recall import Recalling
from codecortex.memory.verify import Verifier


class Memory(Observing, Recalling):
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder: Embedder = embedder or HashEmbedder()
        self.verifier = Verifier()
        self.candidates = CandidateCache()
