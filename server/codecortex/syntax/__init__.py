"""The tree-sitter layer shared by memory, synthesis and analysis: grammars and parsers,
per-language queries, byte/character positions, definitions and the code around a position."""
