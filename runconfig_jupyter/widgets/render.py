"""HTML for the run views: status badge, lifecycle, log tail, metrics table with SVG sparklines, outputs.

Plain strings (escaped) so every front end that renders an ipywidgets ``HTML``
shows them the same, and no plotting library is needed. Pure functions: the
widgets call them, tests check them without a browser.
"""

from __future__ import annotations

import base64
import html
import mimetypes
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.status import LIFECYCLE, RunStatus

from .follower import MetricSeries

STATUS_COLOURS = {
    RunStatus.COMPLETED: "#1e7e34",
    RunStatus.FAILED: "#c62828",
    RunStatus.CANCELED: "#616161",
    RunStatus.CANCEL_REQUESTED: "#ef6c00",
    RunStatus.RUNNING: "#1565c0",
    RunStatus.FINALIZING: "#1565c0",
}
LOG_STYLE = (
    "max-height:22em;overflow:auto;margin:0;padding:4px;font-size:12px;line-height:1.3;"
    "background:var(--jp-layout-color2,#f5f5f5);white-space:pre-wrap;word-break:break-all"
)


def format_seconds(seconds: float | None, precise: bool = True) -> str:
    """``12.3s`` / ``4m05s``; ``precise=False`` drops tenths so a live view redraws once a second, not ten times."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s" if precise else f"{int(seconds)}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def elapsed(record: Any, now: float | None = None) -> float:
    """Time since the script started, or since submission while it has not started yet."""
    now = time.time() if now is None else now
    if record.started_at is not None:
        return (record.ended_at or now) - record.started_at
    return (record.ended_at or now) - record.created_at


def status_badge(record: Any) -> str:
    """``<span class=runconfig-status data-status=Running>Running</span>`` plus phase, exit code and reason."""
    status = record.status
    colour = STATUS_COLOURS.get(status, "#0277bd")
    parts = [
        f"<span class='runconfig-status' data-status='{status.value}' style='background:{colour};color:white;"
        f"padding:1px 8px;border-radius:9px;font-weight:600'>{status.value}</span>"
    ]
    if record.phase and status in (RunStatus.FAILED, RunStatus.CANCELED):
        parts.append(f"<span class='runconfig-phase'>in {html.escape(record.phase)}</span>")
    took = format_seconds(elapsed(record), precise=record.is_terminal)
    parts.append(f"<span class='runconfig-elapsed'>{took}</span>")
    if record.exit_code is not None:
        parts.append(f"<span class='runconfig-exit'>exit code {record.exit_code}</span>")
    if record.reason:
        parts.append(f"<span class='runconfig-reason'>{html.escape(record.reason)}</span>")
    return " &middot; ".join(parts)


def header(record: Any) -> str:
    name = f" ({html.escape(record.display_name)})" if record.display_name else ""
    script = f" &middot; <code>{html.escape(record.script)}</code>" if record.script else ""
    return (
        f"<b class='runconfig-run-id'>{html.escape(record.run_id)}</b>{name} &middot; experiment "
        f"<i>{html.escape(record.experiment)}</i> &middot; target <i>{html.escape(record.target)}</i>{script}"
    )


def lifecycle(record: Any) -> str:
    """The Azure lifecycle as a strip, the current step bold; a failure names the phase it stopped in."""
    current = record.status
    stopped_in = record.phase if current.is_terminal and current != RunStatus.COMPLETED else None
    reached = True
    steps = []
    for step in LIFECYCLE:
        is_current = step == current or (stopped_in == step.value)
        style = "font-weight:700;text-decoration:underline" if is_current else ("" if reached else "opacity:.45")
        steps.append(f"<span style='{style}'>{step.value}</span>")
        if is_current:
            reached = False
    if current.is_terminal or current == RunStatus.CANCEL_REQUESTED:
        steps.append(f"<span style='font-weight:700'>{current.value}</span>")
    elif reached:
        steps.append("<span style='opacity:.45'>Completed</span>")
    return "<small class='runconfig-lifecycle'>" + " &rarr; ".join(steps) + "</small>"


def log_tail(text: str, lines_seen: int, shown: int, bytes_skipped: int = 0) -> str:
    hidden = lines_seen - shown
    note = ""
    if hidden > 0 or bytes_skipped:
        note = (
            f"<div class='runconfig-log-note'><small>showing the last {shown} lines; "
            f"{max(hidden, 0)} earlier lines are in the full log</small></div>"
        )
    body = html.escape(text) if text else "<i>(no output yet)</i>"
    return f"{note}<pre class='runconfig-log' style='{LOG_STYLE}'>{body}</pre>"


def sparkline(points: Sequence[float], width: int = 160, height: int = 32) -> str:
    """A small inline SVG line chart; min/max scale the y axis."""
    if not points:
        return ""
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    step = width / max(len(points) - 1, 1)
    coords = " ".join(
        f"{i * step:.1f},{height - 2 - (value - low) / span * (height - 4):.1f}" for i, value in enumerate(points)
    )
    if len(points) == 1:
        coords = f"0,{height / 2:.1f} {width},{height / 2:.1f}"
    return (
        f"<svg class='runconfig-sparkline' width='{width}' height='{height}' viewBox='0 0 {width} {height}'>"
        f"<polyline fill='none' stroke='#1565c0' stroke-width='1.5' points='{coords}'/></svg>"
    )


def _short(value: Any, limit: int = 60) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return html.escape(text if len(text) <= limit else text[: limit - 1] + "…")


def metrics_table(metrics: Iterable[MetricSeries]) -> str:
    rows = []
    for series in metrics:
        if series.kind == "row":
            columns = list(series.rows[-1]) if series.rows else []
            value = ", ".join(f"{c}={_short(series.rows[-1][c], 20)}" for c in columns) if columns else ""
            chart = ""
        else:
            value = _short(series.last)
            chart = sparkline(list(series.points)) if len(series.points) > 0 else ""
        low = "" if series.minimum is None else _short(series.minimum)
        high = "" if series.maximum is None else _short(series.maximum)
        rows.append(
            f"<tr class='runconfig-metric' data-metric='{html.escape(series.name, quote=True)}'>"
            f"<td>{html.escape(series.name)}</td><td>{series.kind}</td><td class='runconfig-metric-value'>{value}</td>"
            f"<td>{low}</td><td>{high}</td><td>{series.count}</td><td>{chart}</td></tr>"
        )
    if not rows:
        return "<i class='runconfig-no-metrics'>No metrics yet (Run.get_context().log(name, value) in the script)</i>"
    head = "<tr><th>metric</th><th>kind</th><th>last</th><th>min</th><th>max</th><th>n</th><th>chart</th></tr>"
    return f"<table class='runconfig-metrics'>{head}{''.join(rows)}</table>"


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def outputs_list(outputs: Sequence[tuple[str, int]], run_dir: str, links: Mapping[str, str] | None = None) -> str:
    """The outputs with sizes; ``links`` (name -> href) makes names downloadable."""
    if not outputs:
        return "<i>No outputs yet (files the script writes to ./outputs)</i>"
    links = links or {}
    items = []
    for name, size in outputs:
        label = f"<code>{html.escape(name)}</code>"
        if name in links:
            filename = html.escape(name.rsplit("/", 1)[-1], quote=True)
            label = f"<a download='{filename}' href='{links[name]}' class='runconfig-output-link'>{label}</a>"
        items.append(f"<li>{label} ({human_bytes(size)})</li>")
    return (
        f"<ul class='runconfig-outputs' style='margin:0'>{''.join(items)}</ul>"
        f"<small>in {html.escape(run_dir)}; fetch any with <code>run.download_file(name)</code></small>"
    )


def download_links(
    run_dir: Path, outputs: Sequence[tuple[str, int]], per_file: int = 256 * 1024, total: int = 2 * 1024 * 1024
) -> dict[str, str]:
    """``data:`` links for small finished outputs.

    A link into the Jupyter server's /files only works for files under its root,
    and the run home usually is not; a data URI downloads in every front end.
    Bounded so the widget state stays small: larger files are fetched with
    ``run.download_file``.
    """
    links: dict[str, str] = {}
    budget = total
    for name, size in outputs:
        if size > per_file or size > budget:
            continue
        try:
            data = (run_dir / name).read_bytes()
        except OSError:
            continue
        budget -= len(data)
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        links[name] = f"data:{kind};base64,{base64.b64encode(data).decode()}"
    return links


def progress_fraction(record: Any) -> tuple[float | None, str]:
    """What the preparing progress bar shows: the target's fraction when known, and a label."""
    progress = record.progress or {}
    fraction = progress.get("fraction")
    label = " ".join(str(p) for p in (progress.get("phase"), progress.get("message")) if p)
    return (float(fraction) if isinstance(fraction, (int, float)) else None), label
