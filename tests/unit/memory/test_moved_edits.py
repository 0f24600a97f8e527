"""A checked fix follows its code when lines are added or removed elsewhere, and only then."""

from __future__ import annotations

from codecortex.diagnostics import Range, TextEdit, apply_edits
from codecortex.memory.moved import LineMap

OLD = "import os\nimport sys\n\n\ndef main():\n    if value == None:\n        return sys.argv\n"
# the fix checked on OLD: `== None` -> `is None` on line 5
FIX = [TextEdit(Range.of(5, 13, 5, 15), "is")]
# and one that removes the whole `import os` line
REMOVE = [TextEdit(Range.of(0, 0, 1, 0), "")]


def test_lines_added_above_move_the_fix_with_its_code() -> None:
    new = "# a comment\n\n" + OLD.replace("def main", "def helper():\n    pass\n\n\ndef main")
    moved = LineMap.between(OLD, new).edits(FIX)
    assert moved is not None
    assert "    if value is None:\n" in apply_edits(new, moved)
    removed = LineMap.between(OLD, new).edits(REMOVE)
    assert removed is not None
    assert apply_edits(new, removed) == new.replace("import os\n", "")


def test_a_fix_whose_lines_changed_is_not_moved() -> None:
    new = OLD.replace("if value == None:", "if other == None:")
    assert LineMap.between(OLD, new).edits(FIX) is None
    # the line after a removed line is not touched by the removal: it may change
    assert LineMap.between(OLD, OLD.replace("import sys", "import re")).edits(REMOVE) is not None
    assert LineMap.between(OLD, OLD.replace("import os", "import json")).edits(REMOVE) is None
