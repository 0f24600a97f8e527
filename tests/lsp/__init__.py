"""The LSP suites (a package, so that its conftest is `lsp.conftest` and `from conftest import`
still finds tests/conftest.py)."""
