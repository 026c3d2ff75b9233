"""HTML for the run views: status badge, lifecycle, metrics table, logged images, outputs.

Plain strings (escaped) so every front end that renders an ipywidgets ``HTML``
shows them the same. Charts are Vega-Lite specs from ``core/charts.py``, not
HTML. Pure functions (images_html only reads the files it is given): the
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

from runconfig_jupyter.core.runs.explain import explain_exit_code, human_duration
from runconfig_jupyter.core.runs.follow import MetricSeries
from runconfig_jupyter.core.runs.status import LIFECYCLE, RunStatus

# White text on these reads at WCAG AA contrast (4.5:1 or more).
STATUS_COLOURS = {
    RunStatus.COMPLETED: "#1b6e2e",
    RunStatus.FAILED: "#b71c1c",
    RunStatus.CANCELED: "#545454",
    RunStatus.CANCEL_REQUESTED: "#9a3c00",
    RunStatus.RUNNING: "#01579b",
    RunStatus.FINALIZING: "#01579b",
}
MUTED = "color:var(--jp-ui-font-color2,#555)"
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
LOG_STYLE = (
    "max-height:22em;overflow:auto;margin:0;padding:4px;font-size:12px;line-height:1.3;"
    "background:var(--jp-layout-color2,#f5f5f5);white-space:pre-wrap;word-break:break-all"
)


def format_seconds(seconds: float | None, precise: bool = True) -> str:
    """Human units (``12.3 s``, ``4 min 05 s``, ``30 days``); ``precise=False`` drops tenths for a live clock."""
    return human_duration(seconds, precise=precise)


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
        f"padding:1px 8px;border-radius:9px;font-weight:600;display:inline-block;min-width:7em;text-align:center'>"
        f"{status.value}</span>"
    ]
    if record.phase and status in (RunStatus.FAILED, RunStatus.CANCELED):
        parts.append(f"<span class='runconfig-phase'>in {html.escape(record.phase)}</span>")
    took = format_seconds(elapsed(record), precise=record.is_terminal)
    parts.append(
        f"<span class='runconfig-elapsed' style='display:inline-block;min-width:6.5em;"
        f"font-variant-numeric:tabular-nums'>{took}</span>"
    )
    if record.exit_code is not None:
        words = explain_exit_code(record.exit_code, status.value, record.reason or "")
        parts.append(f"<span class='runconfig-exit'>{html.escape(words)}</span>")
    if record.reason:
        parts.append(f"<span class='runconfig-reason'>{html.escape(record.reason)}</span>")
    return " &middot; ".join(parts)


def header(record: Any, max_duration: float | None = None) -> str:
    name = f" ({html.escape(record.display_name)})" if record.display_name else ""
    script = f" &middot; <code>{html.escape(record.script)}</code>" if record.script else ""
    limit = f" &middot; max duration {human_duration(max_duration)}" if max_duration else ""
    return (
        f"<b class='runconfig-run-id'>{html.escape(record.run_id)}</b>{name} &middot; experiment "
        f"<i>{html.escape(record.experiment)}</i> &middot; target <i>{html.escape(record.target)}</i>{script}{limit}"
    )


def lifecycle(record: Any) -> str:
    """The Azure lifecycle as a strip, the current step bold; a failure names the phase it stopped in."""
    current = record.status
    stopped_in = record.phase if current.is_terminal and current != RunStatus.COMPLETED else None
    reached = True
    steps = []
    for step in LIFECYCLE:
        is_current = step == current or (stopped_in == step.value)
        style = "font-weight:700;text-decoration:underline" if is_current else ("" if reached else MUTED)
        steps.append(f"<span style='{style}'>{step.value}</span>")
        if is_current:
            reached = False
    if current.is_terminal or current == RunStatus.CANCEL_REQUESTED:
        steps.append(f"<span style='font-weight:700'>{current.value}</span>")
    elif reached:
        steps.append(f"<span style='{MUTED}'>Completed</span>")
    return "<small class='runconfig-lifecycle'>" + " &rarr; ".join(steps) + "</small>"


def _short(value: Any, limit: int = 60) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return html.escape(text if len(text) <= limit else text[: limit - 1] + "…")


def metrics_table(metrics: Iterable[MetricSeries]) -> str:
    rows = []
    for series in metrics:
        if series.kind == "row":
            columns = list(series.rows[-1]) if series.rows else []
            value = ", ".join(f"{c}={_short(series.rows[-1][c], 20)}" for c in columns) if columns else ""
        else:
            value = _short(series.last)
        low = "" if series.minimum is None else _short(series.minimum)
        high = "" if series.maximum is None else _short(series.maximum)
        rows.append(
            f"<tr class='runconfig-metric' data-metric='{html.escape(series.name, quote=True)}'>"
            f"<td>{html.escape(series.name)}</td><td>{series.kind}</td><td class='runconfig-metric-value'>{value}</td>"
            f"<td>{low}</td><td>{high}</td><td>{series.count}</td></tr>"
        )
    if not rows:
        return "<i class='runconfig-no-metrics'>No metrics yet (Run.get_context().log(name, value) in the script)</i>"
    head = "<tr><th>metric</th><th>kind</th><th>last</th><th>min</th><th>max</th><th>n</th></tr>"
    return f"<table class='runconfig-metrics'>{head}{''.join(rows)}</table>"


def run_file(run_dir: Path, relative: Any) -> Path | None:
    """``relative`` inside the run folder, or None: absolute paths, ``..`` and symlinks out of it are refused.

    Image records come from the run's own script, which may be anyone's code: the view must never
    read (and put into the notebook) a file outside the run's folder.
    """
    if not isinstance(relative, str) or not relative or Path(relative).is_absolute():
        return None
    root = Path(run_dir).resolve()
    try:
        path = (root / relative).resolve()
        path.relative_to(root)
    except (OSError, ValueError):
        return None
    return path if path.is_file() else None


def images_html(
    run_dir: Path,
    images: Sequence[Mapping[str, Any]],
    max_count: int = 6,
    per_image: int = 2 * 1024 * 1024,
    total: int = 6 * 1024 * 1024,
) -> str:
    """The newest logged images (``log_image``) as figures with their name and description.

    Bounded: at most ``max_count`` images, each at most ``per_image`` bytes and ``total`` in all
    (data URIs live in the widget state and the saved notebook); what is left out is counted.
    """
    figures: list[str] = []
    skipped = 0
    budget = total
    for image in reversed(list(images)):
        path = run_file(run_dir, image.get("path"))
        kind = IMAGE_TYPES.get(path.suffix.lower()) if path is not None else None
        size = path.stat().st_size if path is not None and kind else 0
        if path is None or kind is None or size > per_image or size > budget or len(figures) >= max_count:
            skipped += 1
            continue
        budget -= size
        data = base64.b64encode(path.read_bytes()).decode()
        name = html.escape(str(image.get("name", "")))
        description = html.escape(str(image.get("description") or ""))
        step = image.get("step")
        caption = f"<b>{name}</b>" + (f" (step {html.escape(str(step))})" if step is not None else "")
        caption += f"<br>{description}" if description else ""
        alt = html.escape(str(image.get("description") or image.get("name") or "logged image"), quote=True)
        figures.append(
            f"<figure class='runconfig-image' style='margin:0 8px 8px 0'>"
            f"<img src='data:{kind};base64,{data}' alt='{alt}' style='max-width:320px;max-height:240px'>"
            f"<figcaption style='font-size:12px'>{caption}</figcaption></figure>"
        )
    if not figures and not skipped:
        return ""
    note = f"<small style='{MUTED}'>{skipped} more image(s) not shown (older, too large or not readable)</small>"
    return (
        "<div class='runconfig-images' style='display:flex;flex-wrap:wrap'>"
        + "".join(reversed(figures))
        + (note if skipped else "")
        + "</div>"
    )


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
