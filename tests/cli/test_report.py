"""`codecortex report --html`: a self-contained page, opened in headless Chromium (offline), whose
charts are drawn: a screenshot shows each chart's colours, the DOM has one bar per data point."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest
from conftest import codecortex_exe
from history_script import NOW, script_history

from codecortex.reports.html import PALETTE, STATUS_COLORS, render_html
from codecortex.store.pool import connect


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def read_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit non-interlaced PNG (what Chromium
    writes), without an imaging library."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _c, _f, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line if channels == 3 else _rgb(line)))
        prev = line
    return width, height, rows


def _rgb(line: bytearray) -> bytes:
    return bytes(v for i, v in enumerate(line) if i % 4 != 3)


def colour_counts(rows: list[bytes]) -> dict[tuple[int, int, int], int]:
    counts: dict[tuple[int, int, int], int] = {}
    for row in rows:
        for i in range(0, len(row), 3):
            px = (row[i], row[i + 1], row[i + 2])
            counts[px] = counts.get(px, 0) + 1
    return counts


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def near(counts: dict[tuple[int, int, int], int], colour: str, tol: int = 6) -> int:
    r, g, b = hex_rgb(colour)
    return sum(
        n
        for (pr, pg, pb), n in counts.items()
        if abs(pr - r) <= tol and abs(pg - g) <= tol and abs(pb - b) <= tol
    )


@pytest.fixture
async def report_file(fresh_db: str, cli_env: dict[str, str], tmp_path: Path) -> Path:
    from codecortex.config import load_settings

    async with connect(load_settings({"databaseUrl": fresh_db}, env={})) as conn:
        await conn.execute("SET TimeZone = 'UTC'")
        await script_history(conn)
        # The scripted history is dated around NOW; move it into the last 12 weeks of today.
        shift = "NOW() - %s::timestamptz"
        for table, cols in (
            ("detected_problems", ("detected_at", "resolved_at")),
            ("past_solutions", ("created_at",)),
            ("codecortex_replays", ("applied_at",)),
        ):
            sets = ", ".join(f"{c} = {c} + ({shift})" for c in cols)
            await conn.execute(f"UPDATE {table} SET {sets}", (NOW,) * len(cols))
    out = tmp_path / "report" / "cc.html"
    env = dict(cli_env, CODECORTEX_DATABASE_URL=fresh_db, CODECORTEX_USER="una@example.com")
    proc = await asyncio.to_thread(
        subprocess.run,
        [codecortex_exe(), "report", "--html", str(out)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout
    return out


async def test_report_is_self_contained_with_one_bar_per_value(report_file: Path) -> None:
    page = report_file.read_text(encoding="utf-8")
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert "CodeCortex report for una@example.com" in page
    for chart in ("chart-weekly", "chart-time-saved", "chart-signatures", "chart-insights"):
        svg = re.search(rf'<svg id="{chart}" class="chart"[^>]*>(.*?)</svg>', page, re.S)
        assert svg, f"{chart} not drawn"
    weekly = re.search(r'<svg id="chart-weekly".*?</svg>', page, re.S).group(0)  # type: ignore[union-attr]
    assert weekly.count('class="bar"') == 2 * 12  # detected + solved for each of 12 weeks
    insights = re.search(r'<svg id="chart-insights".*?</svg>', page, re.S).group(0)  # type: ignore[union-attr]
    assert insights.count('class="bar"') == 3  # applied, open, ignored
    assert ">Estimated time saved<b>10 min</b>" in page  # 2 replays x 295 s
    assert "<td>live</td><td>3</td><td>3</td><td>1</td><td>75%</td>" in page


def test_empty_report_renders_placeholders() -> None:
    data: dict[str, Any] = {
        "metrics": {
            k: 0
            for k in (
                "problemsDetected problemsSolved solutionsCaptured solutionsReused"
                " replaysApplied timeSavedSeconds insightsApplied"
            ).split()
        }
        | {"averageSolveSeconds": None},
        "weekly": [],
        "topSignatures": [],
        "insightStatus": {},
    }
    page = render_html(data)
    assert page.count('class="chart empty"') == 4 and "no data yet" in page


async def test_report_opens_in_headless_chromium_and_draws_charts(
    report_file: Path, tmp_path: Path
) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    shot = tmp_path / "shot.png"
    keep = os.environ.get("CODECORTEX_KEEP_SCREENSHOT")
    common = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--no-first-run", "--disable-extensions", f"--user-data-dir={tmp_path / 'profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # no network: the page must not need it
        "--window-size=1400,1500", "--enable-logging=stderr", "--v=0",
    ]  # fmt: skip
    env = dict(os.environ, HOME=str(tmp_path))
    proc = await asyncio.to_thread(
        subprocess.run,
        [*common, f"--screenshot={shot}", report_file.as_uri()],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert shot.exists(), proc.stderr[-2000:]
    assert "Uncaught" not in proc.stderr and "ERR_NAME_NOT_RESOLVED" not in proc.stderr
    dom = (
        await asyncio.to_thread(
            subprocess.run,
            [*common, "--dump-dom", report_file.as_uri()],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    ).stdout
    assert dom.count("<svg") == 4 and 'id="chart-time-saved"' in dom

    if keep:
        shutil.copy(shot, keep)
    width, height, rows = read_png(shot.read_bytes())
    assert (width, height) == (1400, 1500)
    counts = colour_counts(rows)
    white = counts.get((255, 255, 255), 0)
    assert white < 0.97 * width * height, "screenshot is blank"
    assert len(counts) > 50
    # Each chart's colours are on screen: weekly bars, time saved, signatures, insights.
    for colour in (
        PALETTE["detected"], PALETTE["solved"], PALETTE["saved"], PALETTE["fixed"],
        PALETTE["seen"], STATUS_COLORS["ignored"],
    ):  # fmt: skip
        assert near(counts, colour) > 100, f"colour {colour} not drawn"
