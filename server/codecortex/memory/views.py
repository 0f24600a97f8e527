"""What the problem memory answers with: an open problem as the editor shows it (`ProblemView`)
with its fix options (`FixOption`), and the result of observing a document (`Observation`, with
the problems it `Resolved`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codecortex.diagnostics import Diagnostic
from codecortex.memory.candidates import Candidates
from codecortex.memory.replay import ReplayResult
from codecortex.memory.signatures import Signature
from codecortex.memory.verify import UNVERIFIED_CONFIDENCE


@dataclass
class FixOption:
    solution: dict[str, Any]
    replay: ReplayResult
    # True: the reporting detector confirmed it on the edited text; False: it could not be run
    # (offered capped and marked unverified); None: not checked yet (never offered)
    verified: bool | None = None
    verification: str = ""
    # how many places the past fixes that, replayed here, give this same edited text were
    # learned in (distinct changes, each counted with its `learned_places`)
    support: int = 1

    @property
    def fit(self) -> float:
        """Replay confidence, lowered for weakly learned fixes (learned confidence below 0.9,
        i.e. not a change on the problem's own lines) and for fixes developers rejected."""
        learned = float(self.solution.get("confidence") or 1.0)
        rejects = min(int(self.solution.get("reject_count") or 0), 3)
        return float(self.replay.confidence) * min(1.0, learned / 0.9) * (1 - 0.1 * rejects)

    @property
    def confidence(self) -> float:
        """`fit`, capped at UNVERIFIED_CONFIDENCE unless the detector confirmed the fix."""
        if self.verified is True:
            return self.fit
        return min(self.fit, UNVERIFIED_CONFIDENCE)


@dataclass
class ProblemView:
    """One open problem with everything the editor shows about it."""

    diagnostic: Diagnostic
    signature: Signature
    problem_id: Any
    problem_type: str
    history: dict[str, Any] = field(default_factory=dict)
    fixes: list[FixOption] = field(default_factory=list)
    related: list[dict[str, Any]] = field(default_factory=list)
    # the stored fixes (the candidate cache's entry) and the text `fixes` were replayed and
    # checked from: a recall with both unchanged keeps them (the background refresh)
    replayed_from: tuple[Candidates, str] | None = field(default=None, repr=False, compare=False)

    @property
    def best_fix(self) -> FixOption | None:
        return self.fixes[0] if self.fixes else None


@dataclass
class Resolved:
    problem: dict[str, Any]
    solution_id: Any | None
    reason: str
    before_text: str | None = None
    seconds: int | None = None


@dataclass
class Observation:
    views: list[ProblemView]
    new: int
    resolved: list[Resolved]
    deferred: bool = False  # the text did not parse: resolution waits for a parseable version
