"""CodeCortex: a language server that remembers how you fix things."""

__version__ = "0.1.0"
