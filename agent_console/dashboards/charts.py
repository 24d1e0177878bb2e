"""Server-side SVG charts: accessible images (role="img" with <title> and <desc>), drawn with
presentation attributes only (no inline style, so the console's CSP holds), each shown above a
data table carrying the same figures."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 260
LEFT, BOTTOM, TOP, RIGHT = 56, 40, 16, 16
COLOURS = ("#1d70b8", "#d4351c", "#00703c", "#6f72af")  # GOV.UK blue, red, green, purple
INK = "#0b0c0c"
GRID = "#b1b4b6"


def _open(chart_id: str, title: str, desc: str, height: int = HEIGHT) -> list[str]:
    return [
        f'<svg class="fc-chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
    ]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10 ** len(str(int(value))) / 10
    for m in (1, 2, 2.5, 5, 10):
        if value <= step * m:
            return step * m
    return value


def _axis(parts: list[str], top: float, fmt: str, height: int = HEIGHT) -> None:
    plot_h = height - TOP - BOTTOM
    for i in range(5):
        value = top * i / 4
        y = height - BOTTOM - plot_h * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" fill="{INK}">'
            f"{escape(fmt.format(value))}</text>"
        )


def _labels(parts: list[str], labels: Sequence[str], xs: Sequence[float], height: int = HEIGHT) -> None:
    every = max(1, len(labels) // 12)
    for i, (label, x) in enumerate(zip(labels, xs, strict=True)):
        if i % every == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{height - BOTTOM + 16}" text-anchor="middle" font-size="12" '
                f'fill="{INK}">{escape(label)}</text>'
            )


def line_chart(
    chart_id: str, title: str, desc: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]]
) -> Markup:
    """Lines over time, one per series, with a legend."""
    parts = _open(chart_id, title, desc)
    top = _nice_max(max((v for _, values in series for v in values), default=0))
    _axis(parts, top, "{:.0f}")
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(1, len(labels) - 1)
    xs = [LEFT + plot_w * i / n for i in range(len(labels))]
    _labels(parts, labels, xs)
    for k, (name, values) in enumerate(series):
        colour = COLOURS[k % len(COLOURS)]
        points = " ".join(
            f"{x:.1f},{HEIGHT - BOTTOM - plot_h * v / top:.1f}" for x, v in zip(xs, values, strict=True)
        )
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="3"/>')
        parts.append(f'<rect x="{LEFT + 160 * k}" y="{HEIGHT - 14}" width="14" height="10" fill="{colour}"/>')
        parts.append(
            f'<text x="{LEFT + 160 * k + 20}" y="{HEIGHT - 4}" font-size="12" fill="{INK}">'
            f"{escape(name)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text part above went through escape()


def bar_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    fmt: str = "{:.0f}",
) -> Markup:
    """Vertical bars, one per label (None = no figure)."""
    parts = _open(chart_id, title, desc)
    top = _nice_max(max((v or 0 for v in values), default=0))
    _axis(parts, top, fmt)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(labels))
    xs = [LEFT + slot * (i + 0.5) for i in range(len(labels))]
    _labels(parts, labels, xs)
    for x, v in zip(xs, values, strict=True):
        if v is None:
            continue
        h = plot_h * v / top
        parts.append(
            f'<rect x="{x - slot * 0.35:.1f}" y="{HEIGHT - BOTTOM - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{COLOURS[0]}"/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text part above went through escape()


DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def heat_map(chart_id: str, title: str, desc: str, cells: dict[tuple[int, int], float]) -> Markup:
    """Day of week (rows) × hour of day (columns); darker = more."""
    height = TOP + 7 * 26 + 30
    parts = _open(chart_id, title, desc, height)
    top = max(cells.values(), default=0) or 1
    cell_w = (WIDTH - LEFT - RIGHT) / 24
    for d, name in enumerate(DAYS):
        y = TOP + d * 26
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 17}" text-anchor="end" font-size="12" fill="{INK}">{name}</text>'
        )
        for h in range(24):
            v = cells.get((d, h), 0)
            # From white to GOV.UK dark blue (#003078) as demand rises.
            t = v / top
            r, g, b = (round(255 + (c - 255) * t) for c in (0, 48, 120))
            parts.append(
                f'<rect x="{LEFT + h * cell_w:.1f}" y="{y}" width="{cell_w - 1:.1f}" height="24" '
                f'fill="#{r:02x}{g:02x}{b:02x}" stroke="{GRID}" stroke-width="0.5"/>'
            )
    for h in range(0, 24, 3):
        parts.append(
            f'<text x="{LEFT + (h + 0.5) * cell_w:.1f}" y="{TOP + 7 * 26 + 16}" text-anchor="middle" '
            f'font-size="12" fill="{INK}">{h:02d}:00</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text part above went through escape()
