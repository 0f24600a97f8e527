"""Model-made output: synthesized fixes and learning paths."""
