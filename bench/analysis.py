"""Benchmark the analysis engine on the running interpreter's standard library.

Prints one JSON object: files, lines, files/s and lines/s for the quick and medium phases,
insights by type, and the time to bring the workspace up to date after a one-file change
(`reanalyze_file`: the file re-parsed with its rules, the relationships of the file and its
importers resolved again, import cycles recomputed) over N sampled files, plus, for comparison,
the time to fully re-parse and re-run the rules of the file and all its importers.

    .venv/bin/python bench/analysis.py [--samples 50] [--root PATH] [--processes N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sysconfig
import time
from pathlib import Path

from codecortex.analysis import (
    affected_files,
    analyze_source,
    analyze_workspace,
    reanalyze_file,
    run_file_rules,
)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def _phase(root: Path, phase: str, processes: int | None) -> tuple[dict, object]:
    started = time.perf_counter()
    ws = analyze_workspace(root, phase, processes=processes, site_packages=[])
    seconds = time.perf_counter() - started
    files = len(ws.changed)
    return {
        "files": files,
        "lines": ws.lines,
        "seconds": round(seconds, 3),
        "files_per_s": round(files / seconds, 1),
        "lines_per_s": round(ws.lines / seconds),
        "skipped": len(ws.skipped),
        "timings": {k: round(v, 3) for k, v in ws.timings.items()},
    }, ws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=sysconfig.get_paths()["stdlib"])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--processes", type=int, default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    root = Path(args.root)

    quick, _ = _phase(root, "quick", args.processes)
    medium, ws = _phase(root, "medium", args.processes)
    by_type: dict[str, int] = {}
    for insight in ws.insights:  # type: ignore[attr-defined]
        by_type[insight.type] = by_type.get(insight.type, 0) + 1
    relationships = ws.relationships  # type: ignore[attr-defined]

    rng = random.Random(args.seed)
    candidates = sorted(ws.analyses)  # type: ignore[attr-defined]
    sample = rng.sample(candidates, min(args.samples, len(candidates)))
    incremental: list[float] = []
    full: list[float] = []
    affected_sizes: list[int] = []
    for path in sample:
        original = (root / path).read_text(encoding="utf-8")
        changed = original + "\n\ndef _bench_added(x):\n    return x + 1\n"
        importers = affected_files(path, ws.relationships)  # type: ignore[attr-defined]
        affected_sizes.append(len(importers))
        started = time.perf_counter()
        reanalyze_file(ws, path, changed)  # type: ignore[arg-type]
        incremental.append((time.perf_counter() - started) * 1000)
        # the same change, re-parsing the importers too (what a naive re-analysis would do)
        started = time.perf_counter()
        for other in importers:
            text = changed if other == path else (root / other).read_text(encoding="utf-8")
            run_file_rules(analyze_source(other, text, None), text)
        full.append((time.perf_counter() - started) * 1000)
        reanalyze_file(ws, path, original)  # type: ignore[arg-type]

    result = {
        "root": str(root),
        "cpus": os.cpu_count(),
        "quick": quick,
        "medium": medium,
        "relationships": len(relationships),
        "insights_by_type": dict(sorted(by_type.items())),
        "reanalysis": {
            "samples": len(sample),
            "p50_ms": round(statistics.median(incremental), 2),
            "p95_ms": round(_pct(incremental, 95), 2),
            "max_ms": round(max(incremental), 2),
            "mean_affected_files": round(statistics.mean(affected_sizes), 1),
            "max_affected_files": max(affected_sizes),
            "full_reparse_p50_ms": round(statistics.median(full), 2),
            "full_reparse_p95_ms": round(_pct(full, 95), 2),
        },
        "targets": {"quick_files_per_s": 300, "reanalysis_p95_ms": 50},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
