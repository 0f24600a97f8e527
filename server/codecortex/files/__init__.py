"""Files as CodeCortex meets them: which are text, workspace roots and URIs, which files of a
workspace count (git ls-files or a walk, git check-ignore), and changes made outside the editor."""
