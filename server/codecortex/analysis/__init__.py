"""Editor-agnostic code analysis with tree-sitter: symbols, relationships, insights.

No storage here: callers persist `FileAnalysis`, `Relationship` and `Insight` (all have to_json()).
"""

from __future__ import annotations

from codecortex.analysis.insights import AnalysisThresholds, run_file_rules, run_project_rules
from codecortex.analysis.model import (
    CallRef,
    FileAnalysis,
    ImportInfo,
    Insight,
    Priority,
    Relationship,
    SymbolInfo,
)
from codecortex.analysis.phases import (
    IncrementalResult,
    WorkspaceAnalysis,
    affected_files,
    analyze_workspace,
    reanalyze_file,
)
from codecortex.analysis.relations import resolve_imports
from codecortex.analysis.symbols import analyze_source, is_test_path
from codecortex.files.listing import SkippedFile, SourceFile, iter_source_files

__all__ = [
    "AnalysisThresholds",
    "CallRef",
    "FileAnalysis",
    "ImportInfo",
    "IncrementalResult",
    "Insight",
    "Priority",
    "Relationship",
    "SkippedFile",
    "SourceFile",
    "SymbolInfo",
    "WorkspaceAnalysis",
    "affected_files",
    "analyze_source",
    "analyze_workspace",
    "is_test_path",
    "iter_source_files",
    "reanalyze_file",
    "resolve_imports",
    "run_file_rules",
    "run_project_rules",
]
