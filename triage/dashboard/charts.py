"""Server-side SVG charts: no JavaScript, no chart library, nothing for the CSP to allow.

Colours come from CSS classes (``series-0``, ``series-1``, ``guideline`` in
dashboard.css), never inline styles (the CSP is ``style-src 'self'``). Each chart is an
``<svg role="img">`` with a title and a description; the same numbers are always in a
table next to it, which is what screen readers should use."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from django.utils.safestring import SafeString, mark_safe

WIDTH = 720
HEIGHT = 240
PAD_LEFT = 48
PAD_RIGHT = 12
PAD_TOP = 14
PAD_BOTTOM = 36


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]


def nice_ticks(peak: float, *, integer: bool = True, target: int = 4) -> list[float]:
    """The y-axis ticks, from 0 to a round top at or above ``peak``, about ``target``
    intervals of 1, 2, 2.5 or 5 × 10^n. With ``integer`` (every chart here counts items,
    reveals or minutes) the step is at least 1, so an axis never reads 6.25."""
    peak = max(float(peak), 0.0)
    raw = peak / target if peak > 0 else 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    # 2.5 only where it stays whole for a count axis (25, 250, ...).
    steps = (1, 2, 2.5, 5, 10) if magnitude >= 10 or not integer else (1, 2, 5, 10)
    step = next(m * magnitude for m in steps if m * magnitude >= raw * (1 - 1e-9))
    if integer:
        step = max(1, round(step))
    intervals = max(1, math.ceil(peak / step - 1e-9))
    return [step * i for i in range(intervals + 1)]


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e6 else f"{v:.3g}"


def _frame(chart_id: str, title: str, desc: str, body: list[str]) -> SafeString:
    # Every interpolated text (series names are usernames) went through ``escape``.
    return mark_safe(  # noqa: S308
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d" '
        f'preserveAspectRatio="xMidYMid meet">'
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-d">{escape(desc)}</desc>' + "".join(body) + "</svg>"
    )


def _axes(labels: list[str], ticks: list[float], plot_w: float, plot_h: float) -> list[str]:
    out = []
    top = ticks[-1]
    for value in ticks:
        y = PAD_TOP + plot_h - plot_h * value / top
        out.append(
            f'<line class="grid" x1="{PAD_LEFT}" x2="{PAD_LEFT + plot_w:.1f}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_fmt(value)}</text>"
        )
    n = max(len(labels), 1)
    every = max(1, -(-n // 12))  # at most ~12 x labels
    slot = plot_w / n
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = PAD_LEFT + slot * (i + 0.5)
        out.append(
            f'<text class="tick" x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    out.append(
        f'<line class="axis" x1="{PAD_LEFT}" x2="{PAD_LEFT + plot_w:.1f}" '
        f'y1="{PAD_TOP + plot_h:.1f}" y2="{PAD_TOP + plot_h:.1f}"/>'
    )
    return out


def _legend(series: list[Series], guideline: float | None, guideline_label: str) -> list[str]:
    out, x = [], PAD_LEFT
    y = HEIGHT - 8
    for i, s in enumerate(series):
        out.append(
            f'<rect class="series-{i % 6}" x="{x}" y="{y - 9}" width="10" height="10"/>'
            f'<text class="legend" x="{x + 14}" y="{y}">{escape(s.name)}</text>'
        )
        x += 24 + 7 * len(s.name)
    if guideline is not None:
        out.append(
            f'<line class="guideline" x1="{x}" x2="{x + 16}" y1="{y - 4}" y2="{y - 4}"/>'
            f'<text class="legend" x="{x + 20}" y="{y}">{escape(guideline_label)}</text>'
        )
    return out


def _guideline(guideline, top, plot_w, plot_h) -> list[str]:
    if guideline is None:
        return []
    y = PAD_TOP + plot_h - plot_h * min(guideline / top, 1)
    return [
        f'<line class="guideline" x1="{PAD_LEFT}" x2="{PAD_LEFT + plot_w:.1f}" '
        f'y1="{y:.1f}" y2="{y:.1f}"/>'
    ]


def bar_chart(
    chart_id: str,
    title: str,
    labels: list[str],
    series: list[Series],
    *,
    guideline: float | None = None,
    guideline_label: str = "Guideline",
) -> SafeString:
    """Grouped vertical bars, one group per label, one bar per series; an optional
    dashed horizontal guideline (e.g. the agency's exposure guideline)."""
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    peak = max([v for s in series for v in s.values] + [guideline or 0, 0])
    ticks = nice_ticks(peak)
    top = ticks[-1]
    body = _axes(labels, ticks, plot_w, plot_h)
    n = max(len(labels), 1)
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.8 / max(len(series), 1))
    for si, s in enumerate(series):
        for i, v in enumerate(s.values):
            h = plot_h * (v / top) if v else 0
            x = PAD_LEFT + slot * i + slot * 0.1 + bar_w * si
            y = PAD_TOP + plot_h - h
            body.append(
                f'<rect class="bar series-{si % 6}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}"><title>{escape(s.name)}, '
                f"{escape(labels[i])}: {_fmt(v)}</title></rect>"
            )
    body += _guideline(guideline, top, plot_w, plot_h)
    body += _legend(series, guideline, guideline_label)
    desc = "; ".join(f"{s.name}: total {_fmt(sum(s.values))}" for s in series)
    return _frame(chart_id, title, desc, body)


def line_chart(
    chart_id: str,
    title: str,
    labels: list[str],
    series: list[Series],
    *,
    guideline: float | None = None,
    guideline_label: str = "Guideline",
) -> SafeString:
    """One polyline (with point markers) per series over the labels."""
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    peak = max([v for s in series for v in s.values] + [guideline or 0, 0])
    ticks = nice_ticks(peak)
    top = ticks[-1]
    body = _axes(labels, ticks, plot_w, plot_h)
    slot = plot_w / max(len(labels), 1)
    for si, s in enumerate(series):
        points = [
            (PAD_LEFT + slot * (i + 0.5), PAD_TOP + plot_h - plot_h * (v / top))
            for i, v in enumerate(s.values)
        ]
        body.append(
            f'<polyline class="line series-{si % 6}" points="'
            + " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            + '"/>'
        )
        for (x, y), v, label in zip(points, s.values, labels, strict=False):
            body.append(
                f'<circle class="dot series-{si % 6}" cx="{x:.1f}" cy="{y:.1f}" r="3">'
                f"<title>{escape(s.name)}, {escape(label)}: {_fmt(v)}</title></circle>"
            )
    body += _guideline(guideline, top, plot_w, plot_h)
    body += _legend(series, guideline, guideline_label)
    desc = "; ".join(f"{s.name}: total {_fmt(sum(s.values))}" for s in series)
    return _frame(chart_id, title, desc, body)
