"""Server-side SVG charts for the staffing page: geometry computed here, markup in
templates/agent_console/staffing/_chart.html (autoescaped; role=img with a title and a description,
and the same figures always in a table beneath)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 40


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Line:
    name: str
    css: str  # modifier class: solid / dashed, colour
    points: str  # SVG polyline points


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    bar_name: str = ""
    lines: list[Line] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_label: str = ""
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_top: int = TOP
    plot_bottom: int = HEIGHT - BOTTOM


def _nice_max(value: float) -> tuple[float, float]:
    """An axis maximum ≥ value and a tick step (1, 2 or 5 × 10^k, about 5 ticks)."""
    if value <= 0:
        return 1.0, 1.0
    raw = value / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if step < 1 and value >= 1:
        step = 1.0
    return step * math.ceil(value / step), step


def chart(
    *,
    id: str,
    title: str,
    description: str,
    labels: list[str],
    bars: list[float] | None = None,
    bar_name: str = "",
    lines: list[tuple[str, str, list[float]]] = (),  # type: ignore[assignment]
    y_label: str = "",
    label_every: int = 4,
) -> Chart:
    """A bar and/or step-line chart over evenly spaced categories (e.g. half-hours, days)."""
    n = max(len(labels), 1)
    values = list(bars or []) + [v for _, _, vs in lines for v in vs]
    top, step = _nice_max(max(values, default=0.0))
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP
    slot = (x1 - x0) / n

    def y(v: float) -> float:
        return round(y0 - (y0 - y1) * v / top, 2)

    out_bars = [
        Bar(round(x0 + i * slot + slot * 0.15, 2), y(v), round(slot * 0.7, 2), round(y0 - y(v), 2))
        for i, v in enumerate(bars or [])
    ]
    out_lines = []
    for name, css, vs in lines:
        pts: list[str] = []
        for i, v in enumerate(vs):  # steps: flat across each category
            pts.append(f"{round(x0 + i * slot, 2)},{y(v)}")
            pts.append(f"{round(x0 + (i + 1) * slot, 2)},{y(v)}")
        out_lines.append(Line(name, css, " ".join(pts)))
    ticks = []
    v = 0.0
    while v <= top + 1e-9:
        ticks.append(Tick(y(v), f"{v:g}"))
        v += step
    x_ticks = [
        Tick(round(x0 + i * slot + slot / 2, 2), lab) for i, lab in enumerate(labels) if i % label_every == 0
    ]
    return Chart(
        id=id,
        title=title,
        description=description,
        width=WIDTH,
        height=HEIGHT,
        bars=out_bars,
        bar_name=bar_name,
        lines=out_lines,
        y_ticks=ticks,
        x_ticks=x_ticks,
        y_label=y_label,
    )
