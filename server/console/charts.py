"""The overview's charts as server-side SVG: no JavaScript library, nothing from a CDN.

Hand-written because two chart shapes (stacked bars, a step line) are a few dozen lines of SVG, and a
plotting library (matplotlib, pygal) would put a heavy dependency into every hub for them. The SVG
scales to its box (viewBox, width 100%), so it fits a 390 px phone as well as a desktop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_L, PAD_B, PAD_T = 600, 180, 34, 22, 8
# The outcome colours of the console's own text (console.css: --ok, --bad, --warn).
COLOURS = {"admit": "#1f7a3a", "deny": "#b3261e", "refer": "#9a6700"}


def _nice_top(value: float) -> int:
    """The y axis' top: the smallest of 1, 2, 5, 10, 20, 50... at or above the value."""
    top, steps = 1, (2, 2.5, 2)  # 1 -> 2 -> 5 -> 10 -> 20 -> 50 ...
    i = 0
    while top < value:
        top = int(top * steps[i % 3])
        i += 1
    return top


def _frame(top: int, labels: Sequence[str], title: str) -> list[str]:
    """The axes, the top value and every third x label (a 24-hour axis stays legible at 390 px)."""
    plot_w = WIDTH - PAD_L
    step = plot_w / max(1, len(labels))
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
             f'preserveAspectRatio="xMidYMid meet" aria-label="{escape(title)}">',
             f'<title>{escape(title)}</title>',
             f'<line x1="{PAD_L}" y1="{HEIGHT - PAD_B}" x2="{WIDTH}" y2="{HEIGHT - PAD_B}" stroke="#d6dce4"/>',
             f'<text x="{PAD_L - 4}" y="{PAD_T + 10}" text-anchor="end" font-size="12" fill="#5b6776">{top}</text>',
             f'<text x="{PAD_L - 4}" y="{HEIGHT - PAD_B}" text-anchor="end" font-size="12" fill="#5b6776">0</text>']
    for i, label in enumerate(labels):
        if i % 3 == 0:
            x = PAD_L + step * i + step / 2
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="middle" font-size="12" '
                         f'fill="#5b6776">{escape(label)}</text>')
    return parts


def stacked_bars(labels: Sequence[str], series: Mapping[str, Sequence[int]], title: str) -> Markup:
    """Bars per label, one stacked segment per series (decisions per hour by outcome)."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    top = _nice_top(max(totals, default=0))
    parts = _frame(top, labels, title)
    plot_h = HEIGHT - PAD_B - PAD_T
    step = (WIDTH - PAD_L) / max(1, len(labels))
    for i in range(len(labels)):
        y = float(HEIGHT - PAD_B)
        for name, values in series.items():
            if not values[i]:
                continue
            h = values[i] / top * plot_h
            y -= h
            parts.append(f'<rect class="bar" data-series="{escape(name)}" data-value="{values[i]}" '
                         f'x="{PAD_L + step * i + step * 0.15:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" '
                         f'height="{h:.1f}" fill="{COLOURS.get(name, "#1f5fae")}">'
                         f'<title>{escape(labels[i])} {escape(name)}: {values[i]}</title></rect>')
    parts.append("</svg>")
    return Markup("".join(parts))


def step_line(labels: Sequence[str], values: Sequence[int | None], title: str, cap: int | None = None) -> Markup:
    """A step line of a level over the labels (occupancy at the end of each hour); the cap as a dashed line."""
    known = [v for v in values if v is not None]
    top = _nice_top(max([*known, cap or 0], default=0))
    parts = _frame(top, labels, title)
    plot_h = HEIGHT - PAD_B - PAD_T
    step = (WIDTH - PAD_L) / max(1, len(labels))
    points = [f"{PAD_L + step * i:.1f},{HEIGHT - PAD_B - v / top * plot_h:.1f} "
              f"{PAD_L + step * (i + 1):.1f},{HEIGHT - PAD_B - v / top * plot_h:.1f}"
              for i, v in enumerate(values) if v is not None]
    if cap is not None:
        y = HEIGHT - PAD_B - cap / top * plot_h
        parts.append(f'<line class="cap" x1="{PAD_L}" y1="{y:.1f}" x2="{WIDTH}" y2="{y:.1f}" stroke="#b3261e" '
                     f'stroke-dasharray="6 4"/>')
    if points:
        parts.append(f'<polyline class="level" fill="none" stroke="#1f5fae" stroke-width="2.5" '
                     f'points="{" ".join(points)}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
