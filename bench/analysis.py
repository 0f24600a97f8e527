"""Benchmark the analysis engine on the running interpreter's standard library.

Prints one JSON object: files, lines, files/s and lines/s for the quick and medium phases,
the parse floor (the same files read and parsed by tree-sitter alone, nothing else, in the
same number of processes, in the same run) and the quick phase's ratio to it, insights by
type, and the time to bring the workspace up to date after a one-file change
(`reanalyze_file`: the file re-parsed with its rules, the relationships of the file and its
importers resolved again, import cycles recomputed) over N sampled files, plus, for comparison,
the time to fully re-parse and re-run the rules of the file and all its importers.

The quick phase and the parse floor run `--rounds` times each, alternately, so that both see
the same machine load; the figures are the medians, the load average is printed with them,
and so is each round's ratio (its floor against the quick phase just before it) with their
median, and the ratio of the CPU seconds both used (this process and the pool's workers,
medians), which other work on the machine moves much less.

    .venv/bin/python bench/analysis.py [--samples 50] [--root PATH] [--processes N] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sysconfig
import time
from multiprocessing import forkserver
from pathlib import Path

from codecortex.analysis import (
    affected_files,
    analyze_source,
    analyze_workspace,
    reanalyze_file,
    run_file_rules,
)
from codecortex.analysis.phases import _pool_context
from codecortex.syntax.grammars import get_parser


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


def _cpu_seconds() -> float:
    """CPU seconds used so far by this process (every thread) and by the pool workers that have
    ended: they are the fork server's children, and it reaps them (Linux /proc; without it, this
    process only)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    total = own.ru_utime + own.ru_stime
    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if pid:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return total
        # utime, stime, cutime, cstime: fields 14-17 of stat(5), the 12th-15th after the name
        total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def _parse_file(task: tuple[str, str]) -> int:
    """Read one file and parse it with tree-sitter, nothing else (the floor)."""
    path, language = task
    data = Path(path).read_bytes()
    get_parser(language).parse(data)
    return len(data)


def _parse_floor(tasks: list[tuple[str, str]], processes: int) -> float:
    """Seconds to read and parse `tasks` in `processes` worker processes, handed out as the
    analysis hands out its files (biggest first, the same pool and chunks)."""
    started = time.perf_counter()
    if processes <= 1:
        for task in tasks:
            _parse_file(task)
        return time.perf_counter() - started
    ordered = sorted(tasks, key=lambda t: -os.stat(t[0]).st_size)
    chunksize = max(1, min(16, len(ordered) // (processes * 16)))
    with _pool_context().Pool(processes) as pool:
        for _ in pool.imap_unordered(_parse_file, ordered, chunksize):
            pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=sysconfig.get_paths()["stdlib"])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--processes", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    root = Path(args.root)
    processes = args.processes if args.processes is not None else min(2, os.cpu_count() or 1)

    rounds: list[dict] = []
    floors: list[float] = []
    quick_cpu: list[float] = []
    floor_cpu: list[float] = []
    floor_tasks: list[tuple[str, str]] = []
    for _ in range(max(args.rounds, 1)):
        cpu = _cpu_seconds()
        quick, quick_ws = _phase(root, "quick", args.processes)
        quick_cpu.append(_cpu_seconds() - cpu)
        rounds.append(quick)
        if not floor_tasks:
            floor_tasks = [
                (str(root / p), quick_ws.analyses[p].language)  # type: ignore[attr-defined]
                for p in quick_ws.changed  # type: ignore[attr-defined]
            ]
        cpu = _cpu_seconds()
        floors.append(_parse_floor(floor_tasks, processes))
        floor_cpu.append(_cpu_seconds() - cpu)
    quick = sorted(rounds, key=lambda r: r["seconds"])[len(rounds) // 2]
    floor_seconds = statistics.median(floors)
    floor = {
        "files": len(floor_tasks),
        "processes": processes,
        "seconds": round(floor_seconds, 3),
        "files_per_s": round(len(floor_tasks) / floor_seconds, 1),
        "rounds_seconds": [round(f, 3) for f in floors],
    }
    quick["rounds_seconds"] = [r["seconds"] for r in rounds]
    quick["ratio_to_parse_floor"] = round(floor_seconds / quick["seconds"], 3)
    # each round's floor against the quick phase run just before it (the closest in time, so the
    # least moved by other work on the machine), and their median
    pairs = [f / r["seconds"] for f, r in zip(floors, rounds, strict=True)]
    quick["round_ratios"] = [round(p, 3) for p in pairs]
    quick["median_round_ratio"] = round(statistics.median(pairs), 3)
    # the same in CPU seconds (this process and the pool's workers): what the work costs, much
    # less moved by other work on the machine than the seconds on the clock (the target is set
    # on those)
    quick["cpu_seconds"] = [round(c, 2) for c in quick_cpu]
    floor["cpu_seconds"] = [round(c, 2) for c in floor_cpu]
    quick["cpu_ratio_to_parse_floor"] = round(
        statistics.median(floor_cpu) / statistics.median(quick_cpu), 3
    )
    floor["one_process_files_per_s"] = round(len(floor_tasks) / _parse_floor(floor_tasks, 1), 1)
    load_after_quick = [round(x, 2) for x in os.getloadavg()]
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
        "parse_floor": floor,
        "load_average_after_quick": load_after_quick,
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
        "targets": {"quick_ratio_to_parse_floor": 0.8, "reanalysis_p95_ms": 50},
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
