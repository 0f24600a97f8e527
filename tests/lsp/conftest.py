"""Every test here that starts the server over stdio runs once as VS Code and once as Neovim:
the `editor` fixture gives the capabilities the client sends in `initialize`."""

from __future__ import annotations

import pytest
from lsphelp import EDITORS, Editor


@pytest.fixture(params=EDITORS, ids=[e.id for e in EDITORS])
def editor(request: pytest.FixtureRequest) -> Editor:
    result: Editor = request.param
    return result
