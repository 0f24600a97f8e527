"""`codecortex report --html FILE`: one self-contained HTML page (inline CSS and SVG charts drawn
here in Python, no scripts, no network) from the figures of `codecortex.reports.stats.collect_stats`."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

from codecortex.presentation import format_duration

PALETTE = {
    "detected": "#e15759",
    "solved": "#59a14f",
    "seen": "#4e79a7",
    "fixed": "#f28e2b",
    "saved": "#76b7b2",
    "cumulative": "#b07aa1",
}
STATUS_COLORS = {
    "open": "#e15759",
    "applied": "#59a14f",
    "ignored": "#bab0ac",
    "expired": "#9c755f",
}
W, H = 640, 260
PAD_L, PAD_R, PAD_T, PAD_B = 48, 16, 28, 44


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step * 4:
            return float(step * 4)
    magnitude = 10 ** (len(str(int(value))) - 1)
    return float(-(-value // magnitude) * magnitude)


def _empty(chart_id: str, title: str, message: str) -> str:
    return (
        f'<svg id="{chart_id}" class="chart empty" viewBox="0 0 {W} 80" width="{W}" height="80"'
        f' role="img" aria-label="{escape(title)}"><text x="{W / 2}" y="44" text-anchor="middle"'
        f' class="muted">{escape(message)}</text></svg>'
    )


def _axes(ymax: float, fmt: Any) -> list[str]:
    parts = []
    plot_h = H - PAD_T - PAD_B
    for i in range(5):
        value = ymax * i / 4
        y = PAD_T + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{escape(fmt(value))}</text>"
        )
    return parts


def bar_chart(
    chart_id: str,
    title: str,
    labels: list[str],
    series: list[tuple[str, list[float], str]],
    *,
    fmt: Any = lambda v: f"{v:g}",
    line: tuple[str, list[float], str] | None = None,
) -> str:
    """Grouped vertical bars (one group per label), optionally a line on the same axis."""
    values = [v for _, vs, _ in series for v in vs] + (list(line[1]) if line else [])
    if not labels or not any(values):
        return _empty(chart_id, title, "no data yet")
    ymax = _nice_max(max(values))
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    group_w = plot_w / len(labels)
    bar_w = max(2.0, group_w * 0.8 / len(series))
    parts = _axes(ymax, fmt)
    for gi, label in enumerate(labels):
        x0 = PAD_L + gi * group_w + group_w * 0.1
        for si, (name, vals, color) in enumerate(series):
            h = plot_h * vals[gi] / ymax
            x = x0 + si * bar_w
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{PAD_T + plot_h - h:.1f}" width="{bar_w:.1f}"'
                f' height="{h:.1f}" fill="{color}"><title>{escape(label)}: {escape(name)}'
                f" {escape(fmt(vals[gi]))}</title></rect>"
            )
        if len(labels) <= 16 or gi % 2 == 0:
            parts.append(
                f'<text x="{x0 + group_w * 0.4:.1f}" y="{H - PAD_B + 14}" text-anchor="middle"'
                f' class="tick">{escape(label)}</text>'
            )
    if line is not None:
        name, vals, color = line
        points = " ".join(
            f"{PAD_L + (i + 0.5) * group_w:.1f},{PAD_T + plot_h - plot_h * v / ymax:.1f}"
            for i, v in enumerate(vals)
        )
        parts.append(
            f'<polyline class="line" points="{points}" fill="none" stroke="{color}"'
            f' stroke-width="2.5"><title>{escape(name)}</title></polyline>'
        )
    legend = list(series) + ([line] if line else [])
    for li, (name, _vals, color) in enumerate(legend):
        x = PAD_L + li * 190
        parts.append(
            f'<rect x="{x}" y="{H - 16}" width="12" height="12" fill="{color}"/>'
            f'<text x="{x + 16}" y="{H - 6}" class="tick">{escape(name)}</text>'
        )
    return (
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}"'
        f' role="img" aria-label="{escape(title)}">{"".join(parts)}</svg>'
    )


def hbar_chart(
    chart_id: str,
    title: str,
    rows: list[tuple[str, list[tuple[str, float, str]]]],
    *,
    label_width: int = 260,
) -> str:
    """Horizontal bars: one row per label, each row stacked side by side from its parts."""
    if not rows or not any(v for _, parts in rows for _, v, _ in parts):
        return _empty(chart_id, title, "no data yet")
    vmax = max(sum(v for _, v, _ in parts) for _, parts in rows) or 1
    row_h = 24
    height = PAD_T + row_h * len(rows) + 8
    plot_w = W - label_width - PAD_R - 40
    out = []
    for ri, (label, parts) in enumerate(rows):
        y = PAD_T + ri * row_h
        short = label if len(label) <= 40 else label[:39] + "…"
        out.append(
            f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end" class="tick">'
            f"<title>{escape(label)}</title>{escape(short)}</text>"
        )
        x = float(label_width)
        for name, value, color in parts:
            w = plot_w * value / vmax
            out.append(
                f'<rect class="bar" x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}"'
                f' fill="{color}"><title>{escape(label)}: {escape(name)} {value:g}</title></rect>'
            )
            x += w
        total = sum(v for _, v, _ in parts)
        out.append(f'<text x="{x + 6:.1f}" y="{y + 15}" class="tick">{total:g}</text>')
    return (
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {W} {height}" width="{W}"'
        f' height="{height}" role="img" aria-label="{escape(title)}">{"".join(out)}</svg>'
    )


CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 1340px; color: #222; background: #fff; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 0 0 8px; }
.muted, .tick { fill: #666; color: #666; font-size: 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0 24px; }
.card { border: 1px solid #ddd; border-radius: 8px; padding: 10px 14px; min-width: 140px; }
.card b { display: block; font-size: 22px; }
.grid-2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(660px, 1fr)); gap: 24px; }
section { border: 1px solid #eee; border-radius: 8px; padding: 12px; }
line.grid { stroke: #e5e5e5; }
table { border-collapse: collapse; } td, th { padding: 4px 10px; border-bottom: 1px solid #eee;
  text-align: right; } td:first-child, th:first-child { text-align: left; }
"""


def render_html(data: dict[str, Any], *, user: str = "", generated: datetime | None = None) -> str:
    """The whole report page for `collect_stats` output."""
    generated = generated or datetime.now(UTC)
    m = data["metrics"]
    weekly = data.get("weekly") or []
    labels = [w["week"][5:] for w in weekly]
    cards = [
        ("Problems detected", m["problemsDetected"]),
        ("Solved", m["problemsSolved"]),
        ("Average time to solve", format_duration(m["averageSolveSeconds"])),
        ("Solutions captured", m["solutionsCaptured"]),
        ("Your solutions reused", m["solutionsReused"]),
        ("Replays applied", m["replaysApplied"]),
        ("Estimated time saved", format_duration(m["timeSavedSeconds"])),
        ("Insights applied", m["insightsApplied"]),
    ]
    cards_html = "".join(
        f'<div class="card">{escape(k)}<b>{escape(str(v))}</b></div>' for k, v in cards
    )
    weekly_chart = bar_chart(
        "chart-weekly",
        "Problems per week",
        labels,
        [
            ("detected", [float(w["detected"]) for w in weekly], PALETTE["detected"]),
            ("solved", [float(w["solved"]) for w in weekly], PALETTE["solved"]),
        ],
    )
    top = data.get("topSignatures") or []
    top_chart = hbar_chart(
        "chart-signatures",
        "Top recurring problems",
        [
            (
                t["signature"],
                [
                    ("fixed", float(t["fixed"]), PALETTE["fixed"]),
                    ("still open or unfixed", float(t["seen"] - t["fixed"]), PALETTE["seen"]),
                ],
            )
            for t in top
        ],
    )
    saved = [w["timeSavedSeconds"] / 60 for w in weekly]
    cumulative = [sum(saved[: i + 1]) for i in range(len(saved))]
    saved_chart = bar_chart(
        "chart-time-saved",
        "Time saved per week (minutes)",
        labels,
        [("saved this week (min)", saved, PALETTE["saved"])],
        fmt=lambda v: f"{v:.0f}",
        line=("cumulative (min)", cumulative, PALETTE["cumulative"]),
    )
    statuses = data.get("insightStatus") or {}
    insight_chart = hbar_chart(
        "chart-insights",
        "Insights by status",
        [
            (status, [(status, float(n), STATUS_COLORS.get(status, "#4e79a7"))])
            for status, n in sorted(statuses.items(), key=lambda kv: -kv[1])
        ],
        label_width=120,
    )
    acceptance_rows = "".join(
        f"<tr><td>{escape(a['source'])}</td><td>{a['solutions']}</td><td>{a['applied']}</td>"
        f"<td>{a['rejected']}</td><td>"
        f"{'-' if a['acceptance'] is None else format(a['acceptance'], '.0%')}</td></tr>"
        for a in data.get("acceptanceBySource") or []
    )
    achievements = "".join(
        f"<li><b>{escape(a['title'])}</b> — {escape(a['criterion'])}"
        f" <span class='muted'>({escape(a['achievedAt'][:10])})</span></li>"
        for a in data.get("achievements") or []
    )
    who = f" for {escape(user)}" if user else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>CodeCortex report{who}</title><style>{CSS}</style></head>
<body>
<h1>CodeCortex report{who}</h1>
<div class="muted">generated {escape(generated.strftime("%Y-%m-%d %H:%M UTC"))}</div>
<div class="cards">{cards_html}</div>
<div class="grid-2">
<section><h2>Problems per week</h2>{weekly_chart}</section>
<section><h2>Time saved by replayed fixes</h2>{saved_chart}</section>
<section><h2>Top recurring problems</h2>{top_chart}</section>
<section><h2>Insights by status</h2>{insight_chart}</section>
</div>
<section style="margin-top:24px"><h2>Acceptance of past fixes per source</h2>
<table><tr><th>source</th><th>solutions</th><th>applied</th><th>rejected</th><th>acceptance</th></tr>
{acceptance_rows or '<tr><td colspan="5" class="muted">no solutions yet</td></tr>'}</table>
</section>
<section style="margin-top:24px"><h2>Achievements</h2>
<ul>{achievements or '<li class="muted">none yet</li>'}</ul></section>
</body></html>
"""
