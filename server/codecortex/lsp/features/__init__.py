"""The editor features, one module each, as `lsp.feature.Feature` objects (see `lsp/setup.py`)."""
