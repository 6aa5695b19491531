"""SVG charts for the session report, drawn on the server with matplotlib (no JavaScript, nothing from a CDN)."""
from __future__ import annotations

import io
import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from engagement.api import EngagementStatus, FrameError

from .alerts import AlertKind, kind_spec
from .selectors import MAX_GAP_INTERVALS, NO_FRAMES, UNKNOWN_STATUS

# Above this many analysed frames the timeline draws per-bucket means and ranges instead of every frame,
# which keeps a long session's chart small and quick to draw.
MAX_POINTS = 600
WIDTH_INCHES = 10.0

# Best status first; frames without an analysed face last. Alert kinds carry their own colour (alerts.KINDS).
STATUS_ORDER = [*EngagementStatus, FrameError.FACE_TOO_SMALL, FrameError.NO_FACE, UNKNOWN_STATUS]
STATUS_COLOURS = {
    EngagementStatus.HIGHLY_ENGAGED: "#1a9850", EngagementStatus.ENGAGED: "#66bd63",
    EngagementStatus.NEUTRAL: "#a6d96a", EngagementStatus.PARTIALLY_ENGAGED: "#fee08b",
    EngagementStatus.CONFUSED: "#fdae61", EngagementStatus.DISTRACTED: "#f46d43",
    EngagementStatus.FRUSTRATED: "#d73027", EngagementStatus.BORED: "#a50026",
    FrameError.FACE_TOO_SMALL: "#bdbdbd", FrameError.NO_FACE: "#969696", UNKNOWN_STATUS: "#d9d9d9",
}
# The words people read for each status (the enums' labels), never the stored codes.
STATUS_LABELS = {**dict(EngagementStatus.choices), **dict(FrameError.choices),
                 NO_FRAMES: "No frames (page or camera off)", UNKNOWN_STATUS: "Unknown"}
OTHER_COLOUR = "#8c564b"  # a status or kind that is not (or no longer) registered
SCORE_COLOUR = "#9ecae1"
SMOOTHED_COLOUR = "#08519c"


def _figure(height_inches: float):
    # Imported here so that loading the admin (every web and worker process) does not load matplotlib.
    # A bare Figure (no pyplot) keeps no global state and needs no GUI backend.
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH_INCHES, height_inches), dpi=72, layout="constrained")


def _svg(figure, label: str) -> SafeString:
    """The figure as inline SVG markup: no XML prolog, scalable, with an accessible label."""
    import matplotlib

    buffer = io.StringIO()
    # Text stays text (smaller, selectable, searchable) instead of glyph paths.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    markup = buffer.getvalue()
    markup = markup[markup.index("<svg"):]
    # The root's fixed width and height become CSS's business; the viewBox keeps the aspect ratio.
    markup = re.sub(r'^<svg([^>]*?) width="[^"]*" height="[^"]*"',
                    lambda m: f'<svg{m.group(1)} class="chart" role="img" aria-label="{escape(label)}"',
                    markup, count=1)
    # Every character of the markup was produced by matplotlib, which escapes the text it is given.
    return mark_safe(markup)  # noqa: S308


def _downsample(xs, ys, buckets: int):
    """Per-bucket mean, minimum and maximum of ys at the buckets' mean xs."""
    import numpy as np

    x_parts = np.array_split(np.asarray(xs, dtype=float), buckets)
    y_parts = np.array_split(np.asarray(ys, dtype=float), buckets)
    return (np.array([p.mean() for p in x_parts]), np.array([p.mean() for p in y_parts]),
            np.array([p.min() for p in y_parts]), np.array([p.max() for p in y_parts]))


def _with_breaks(points: list[dict], minutes, frame_interval: float):
    """x, score and smoothed score per frame, NaN where no face was analysed or after a gap in the frames."""
    import numpy as np

    xs, scores, smoothed = [], [], []
    all_x = minutes([p["frame_time"] for p in points])
    gap = MAX_GAP_INTERVALS * frame_interval / 60
    for index, (x, point) in enumerate(zip(all_x, points)):
        if index and x - all_x[index - 1] > gap:
            xs.append(x), scores.append(np.nan), smoothed.append(np.nan)
        analysed = point["score"] is not None
        xs.append(x)
        scores.append(point["score"] if analysed else np.nan)
        smoothed.append(point["smoothed_score"] if analysed else np.nan)
    return np.asarray(xs, dtype=float), np.asarray(scores, dtype=float), np.asarray(smoothed, dtype=float)


def _clock_axis(axes, start_time) -> None:
    """Clock times (the viewer's zone, named) along the top, the same scale as the minutes below."""
    from datetime import timedelta

    from django.utils import timezone
    from matplotlib.ticker import FuncFormatter

    top = axes.secondary_xaxis("top", functions=(lambda x: x, lambda x: x))
    top.xaxis.set_major_formatter(FuncFormatter(
        lambda x, _: timezone.localtime(start_time + timedelta(minutes=float(x))).strftime("%H:%M:%S")))
    top.set_xlabel(f"clock time ({timezone.localtime(start_time).strftime('%Z')})")


def timeline_render(*, points: list[dict], alerts: list, frame_interval: float, low_score: float) -> SafeString:
    """Scores and smoothed score over time (selectors.session_timeline's points), alert spans shaded by kind."""
    import numpy as np

    start_time = points[0]["frame_time"] if points else None

    def minutes(times) -> np.ndarray:  # minutes since the first frame: what a reviewer reads off the axis
        return np.array([(t - start_time).total_seconds() / 60 for t in times], dtype=float)

    figure = _figure(3.6)
    axes = figure.add_subplot()
    analysed = [p for p in points if p["score"] is not None]
    xs = minutes([p["frame_time"] for p in analysed])
    scores = [p["score"] for p in analysed]
    smoothed = [p["smoothed_score"] for p in analysed]
    if len(xs) > MAX_POINTS:
        bucket_x, mean, low, high = _downsample(xs, scores, MAX_POINTS)
        axes.fill_between(bucket_x, low, high, color=SCORE_COLOUR, alpha=0.6, linewidth=0,
                          label=f"score range ({len(xs)} frames in {MAX_POINTS} steps)")
        axes.plot(bucket_x, mean, color=SCORE_COLOUR, linewidth=0.8)
        smooth_x, smooth_y, _, _ = _downsample(xs, smoothed, MAX_POINTS)
    else:
        # The lines break where no face was analysed and where frames stopped (a gap of several intervals): a
        # line drawn straight across an absence would claim scores nobody measured.
        xs, scores, smoothed = _with_breaks(points, minutes, frame_interval)
        axes.plot(xs, scores, color=SCORE_COLOUR, linewidth=0.8, marker="o", markersize=3, label="score per frame")
        smooth_x, smooth_y = xs, smoothed
    axes.plot(smooth_x, smooth_y, color=SMOOTHED_COLOUR, linewidth=2, label="smoothed score")
    axes.axhline(low_score, color="#d62728", linewidth=0.8, linestyle="--", label=f"low engagement ({low_score:g})")

    missing = minutes([p["frame_time"] for p in points if p["score"] is None])
    if len(missing):
        step = max(1, len(missing) // MAX_POINTS)
        axes.plot(missing[::step], np.full(len(missing[::step]), -4.0), linestyle="none", marker="|",
                  markersize=8, color="#636363", label="no face analysed")

    all_x = minutes([p["frame_time"] for p in points])
    last = all_x.max() if len(all_x) else None
    # One label row per alert kind, so that overlapping alerts of different kinds stay readable.
    rows = {kind: index for index, kind in enumerate(dict.fromkeys(alert.kind for alert in alerts))}
    min_width = frame_interval / 60  # an alert seen on one frame is still drawn one interval wide
    labelled = set()
    for alert in alerts:
        [start] = minutes([alert.opened_at]) if start_time else [0.0]
        end = minutes([alert.closed_at])[0] if alert.closed_at and start_time else max(last or start, start)
        colour = kind_spec(alert.kind).colour if alert.kind in AlertKind.values else OTHER_COLOUR
        label = alert.get_kind_display()
        axes.axvspan(start, max(end, start + min_width), color=colour, alpha=0.18, linewidth=0,
                     label=f"alert: {label}" if alert.kind not in labelled else None)
        labelled.add(alert.kind)
        axes.text(start, 1.0 - 0.09 * rows[alert.kind], f" {label}" + ("" if alert.closed_at else " (open)"),
                  transform=axes.get_xaxis_transform(), va="top", ha="left", fontsize=9, color=colour,
                  fontweight="bold", clip_on=True)

    if len(all_x):
        pad = max((all_x.max() - all_x.min()) * 0.02, min_width)
        axes.set_xlim(all_x.min() - pad, all_x.max() + pad)
    axes.set_ylim(-8, 108)
    axes.set_ylabel("engagement score")
    axes.grid(axis="y", color="#e0e0e0", linewidth=0.6)
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_xlabel("minutes since the first frame")
    if start_time is not None:
        _clock_axis(axes, start_time)
    figure.legend(loc="outside lower center", ncols=4, fontsize=9, frameon=False)
    return _svg(figure, "Engagement timeline")


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def status_bars_render(*, seconds_by_status: dict[str, float]) -> SafeString:
    """Seconds spent in each status (and without an analysed face) as horizontal bars."""
    order = {status: index for index, status in enumerate(STATUS_ORDER)}
    items = sorted(seconds_by_status.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))
    figure = _figure(0.6 + 0.32 * max(len(items), 1))
    axes = figure.add_subplot()
    labels = [STATUS_LABELS.get(status, status.replace("_", " ")) for status, _ in items]
    values = [value for _, value in items]
    bars = axes.barh(labels, values, color=[STATUS_COLOURS.get(status, OTHER_COLOUR) for status, _ in items])
    axes.bar_label(bars, labels=[_duration(v) for v in values], padding=4, fontsize=9)
    axes.invert_yaxis()  # best status on top
    axes.set_xlabel("seconds")
    axes.set_xlim(0, max(values, default=1) * 1.15 or 1)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure, "Time per status")
