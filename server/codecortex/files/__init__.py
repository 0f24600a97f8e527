"""Files as CodeCortex meets them: which are text, workspace roots and URIs."""
