"""The tree-sitter layer shared by memory, synthesis and analysis: grammars and parsers."""
