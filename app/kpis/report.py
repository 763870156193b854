"""The day report: a PDF (matplotlib) of the day's KPIs against their targets, charts,
plan against actual per route, the top exceptions and how they were resolved — and a CSV
of every KPI row beside it.

Tables run over as many pages as they need (a 2,000-route day gives some fifty pages of
routes); text is drawn as one block per page so a big day stays well within seconds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from app.kpis.service import DayKpis, Trend  # noqa: E402
from app.kpis.tables import (  # noqa: E402
    RouteLine,
    counts_text,
    exception_kinds,
    hour_ticks,
    hourly_on_time,
    kpi_lines,
    lateness,
    longest_exceptions,
    recovery_minutes,
    route_lines,
    write_csv,
    zone,
)

PAGE = (11.69, 8.27)  # A4 landscape, inches
ROWS_PER_PAGE = 52
MONO: dict[str, Any] = {"family": "monospace", "fontsize": 7.2}
GOOD, BAD, INK, MUTED = "#1b7f3b", "#b3261e", "#222222", "#666666"


@dataclass(frozen=True)
class ReportFiles:
    pdf: Path
    csv: Path
    pages: int
    seconds: float


def _page(title: str, result: DayKpis, number: int) -> Figure:
    fig = Figure(figsize=PAGE)
    state = (
        "final"
        if result.final
        else f"live as of {result.data.facts.as_of.astimezone(zone(result)):%H:%M}"
    )  # noqa: E501
    fig.text(0.04, 0.955, title, fontsize=14, weight="bold", color=INK)
    fig.text(0.96, 0.955, f"{result.depot_id} · {result.day} · {state}", fontsize=9,
             ha="right", color=MUTED)  # fmt: skip
    fig.text(0.96, 0.02, f"page {number}", fontsize=7, ha="right", color=MUTED)
    fig.text(0.04, 0.02, "Dispatch Desk day report · formulas in docs/kpis.md", fontsize=7,
             color=MUTED)  # fmt: skip
    return fig


def _kpi_page(result: DayKpis, number: int) -> Figure:
    fig = _page("Day report: KPIs against targets", result, number)
    lines = kpi_lines(result)
    facts = result.report.facts
    routes = sum(1 for r in facts.routes if r.departed_at)
    fig.text(0.04, 0.915, f"{counts_text(facts)} · {routes} routes departed · "
             f"{len(facts.commands)} commands · from {Path(result.source).name}",
             fontsize=8.5, color=MUTED)  # fmt: skip
    header = f"{'KPI':44}{'value':>10}  {'unit':12}{'target':>9}   {'counted':>16}"
    fig.text(0.04, 0.88, header, weight="bold", **MONO)
    y, step = 0.86, 0.8 / max(len(lines), 1)
    step = min(step, 0.022)
    for ln in lines:
        counted = (f"{ln.numerator:g}/{ln.denominator:g}" if ln.unit == "%"
                   and ln.denominator == int(ln.denominator) else "")  # fmt: skip
        text = (f"{ln.title[:43]:44}{ln.shown:>10}  {ln.unit:12}{ln.target_text:>9}   "
                f"{counted:>16}")  # fmt: skip
        color = INK if ln.met is None else (GOOD if ln.met else BAD)
        fig.text(0.04, y, text, color=color, **MONO)
        fig.text(0.80, y, ln.name, color=MUTED, **{**MONO, "fontsize": 6.2})
        y -= step
    fig.text(0.04, y - 0.01, "green: target met · red: missed · black: no target or nothing "
             "counted yet", fontsize=7, color=MUTED)  # fmt: skip
    return fig


def _charts_page(
    result: DayKpis, trend: Trend | None, number: int, routes: list[RouteLine] | None = None
) -> Figure:
    fig = _page("Charts", result, number)
    grid = fig.add_gridspec(2, 3, left=0.06, right=0.97, top=0.88, bottom=0.09, hspace=0.45,
                            wspace=0.28)  # fmt: skip
    hours = hourly_on_time(result)
    ax = fig.add_subplot(grid[0, 0])
    hs = list(hours)
    ax.bar(hs, [hours[h][0] for h in hs], color=GOOD, label="on time")
    ax.bar(hs, [hours[h][1] - hours[h][0] for h in hs], bottom=[hours[h][0] for h in hs],
           color=BAD, label="late")  # fmt: skip
    ax.set_title("On time by hour of arrival", fontsize=9)
    ax.set_xlabel("hour of arrival (depot time)", fontsize=8)
    ticks = hour_ticks(hs, most=8)
    ax.set_xticks([h for h, _ in ticks], [label for _, label in ticks])
    ax.legend(fontsize=7)
    ax = fig.add_subplot(grid[0, 1])
    late = lateness(result)
    if late:
        ax.hist([max(-120.0, min(240.0, x)) for x in late], bins=36, color="#3b6ea5")
    ax.axvline(0, color=BAD, lw=1)
    ax.set_title("Arrival against window end (min)", fontsize=9)
    ax.set_xlabel("minutes after the window closed (clipped -120…240)", fontsize=7)
    ax = fig.add_subplot(grid[0, 2])
    ack, res = recovery_minutes(result)
    if ack or res:
        ax.hist([res, ack], bins=24, label=["to resolve", "to acknowledge"],
                color=["#3b6ea5", "#e0a030"])  # fmt: skip
        ax.legend(fontsize=7)
    ax.set_title("Exception recovery times (min)", fontsize=9)
    ax = fig.add_subplot(grid[1, 0])
    routes = routes if routes is not None else route_lines(result)
    rows = [r for r in routes if r.planned_h and r.actual_h is not None]
    if rows:
        xs = [r.planned_h or 0.0 for r in rows]
        ys = [r.actual_h or 0.0 for r in rows]
        ax.scatter(xs, ys, s=8, color="#3b6ea5")
        top = max(max(xs), max(ys)) * 1.05
        ax.plot([0, top], [0, top], color=MUTED, lw=0.8)
    ax.set_title("Route time: plan against actual (h)", fontsize=9)
    ax.set_xlabel("planned", fontsize=8)
    ax.set_ylabel("actual", fontsize=8)
    ax = fig.add_subplot(grid[1, 1])
    rows2 = [r for r in routes if r.actual_h is not None]
    if rows2:
        xs = [r.planned_km for r in rows2]
        ys = [r.driven_km for r in rows2]
        ax.scatter(xs, ys, s=8, color="#7a4fa0")
        top = max(max(xs), max(ys), 1.0) * 1.05
        ax.plot([0, top], [0, top], color=MUTED, lw=0.8)
    ax.set_title("Route distance: plan against driven (km)", fontsize=9)
    ax.set_xlabel("planned", fontsize=8)
    ax.set_ylabel("driven", fontsize=8)
    ax = fig.add_subplot(grid[1, 2])
    for name, color in (("on_time_delivery_pct", GOOD), ("first_attempt_success_pct", "#3b6ea5"),
                        ("on_time_dispatch_pct", "#e0a030")):  # fmt: skip
        points = [(d, v) for d, v, _ in (trend.values(name) if trend else []) if v is not None]
        if points:
            days: Any = [p[0] for p in points]  # matplotlib plots dates as they are
            ax.plot(days, [p[1] for p in points], marker="o", ms=3,
                    color=color, label=name.replace("_pct", " %").replace("_", " "))  # fmt: skip
    ax.set_title("Last 30 days", fontsize=9)
    ax.tick_params(axis="x", labelsize=6, rotation=30)
    if ax.lines:
        ax.legend(fontsize=6)
    else:
        ax.text(
            0.5,
            0.5,
            "no day kept yet\n(every kpis or report run keeps one)",
            ha="center",
            va="center",
            fontsize=8,
            color=MUTED,
            transform=ax.transAxes,
        )
    for a in fig.axes:
        a.tick_params(labelsize=7)
    return fig


def _text_pages(title: str, header: str, lines: list[str], result: DayKpis, first: int,
                note: str = "") -> list[Figure]:  # fmt: skip
    out = []
    chunks = [lines[i : i + ROWS_PER_PAGE] for i in range(0, len(lines), ROWS_PER_PAGE)] or [[]]
    for k, chunk in enumerate(chunks):
        suffix = f" ({k + 1} of {len(chunks)})" if len(chunks) > 1 else ""
        fig = _page(title + suffix, result, first + k)
        if note:
            fig.text(0.04, 0.915, note, fontsize=8, color=MUTED)
        fig.text(0.04, 0.885, header, weight="bold", va="top", **MONO)
        body = "\n".join(chunk) if chunk else "(none)"
        fig.text(0.04, 0.862, body, va="top",
                 linespacing=1.25, color=INK, **MONO)  # fmt: skip
        out.append(fig)
    return out


def _clock(moment: datetime | None, result: DayKpis) -> str:
    return moment.astimezone(zone(result)).strftime("%H:%M") if moment else "—"


def _num(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _route_pages(
    result: DayKpis, first: int, routes: list[RouteLine] | None = None
) -> list[Figure]:
    header = (f"{'route':18}{'vehicle':16}{'driver':18}{'wave':6}{'stops':>6}{'on time':>8}"
              f"{'late':>6}{'plan h':>8}{'actual h':>9}{'vs plan':>8}{'plan km':>9}"
              f"{'driven km':>10}{'in order':>9}{'left':>7}{'back':>7}")  # fmt: skip
    lines = []
    for r in routes if routes is not None else route_lines(result):
        vs = r.time_vs_plan_pct
        lines.append(
            f"{r.route_id[:17]:18}{r.vehicle[:15]:16}{r.driver[:17]:18}{r.wave[:5]:6}"
            f"{r.stops:>6}{r.on_time:>8}{r.late:>6}{_num(r.planned_h, 2):>8}"
            f"{_num(r.actual_h, 2):>9}{'' if vs is None else f'{vs:.0f} %':>8}"
            f"{r.planned_km:>9.1f}{r.driven_km:>10.1f}"
            f"{'' if r.in_order_pct is None else f'{r.in_order_pct:.0f} %':>9}"
            f"{_clock(r.departed, result):>7}{_clock(r.ended, result):>7}"
        )
    return _text_pages("Plan against actual per route", header, lines, result, first,
                       "on road from leaving the depot to coming back (breadcrumbs); in order: "
                       "stops served in the planned sequence")  # fmt: skip


def _exception_pages(result: DayKpis, first: int) -> list[Figure]:
    lines = []
    kinds = exception_kinds(result)
    lines.append(f"{'type':26}{'count':>7}{'acked':>7}{'resolved':>9}{'median min':>11}"
                 f"{'recovered':>11}   resolved by")  # fmt: skip
    for k in kinds:
        who = ", ".join(f"{w} {n}" for w, n in sorted(k.resolved_by.items(), key=lambda x: -x[1]))
        rec = f"{k.recovered}/{k.known}" if k.known else "—"
        lines.append(f"{k.type[:25]:26}{k.count:>7}{k.acknowledged:>7}{k.resolved:>9}"
                     f"{_num(k.resolve_median_min):>11}{rec:>11}   {who}")  # fmt: skip
    lines += ["", "The longest to resolve:", f"{'exception':28}{'type':18}{'vehicle':10}"
              f"{'order':14}{'raised':>7}{'acked':>7}{'resolved':>9}  {'by':18}detail"]  # fmt: skip
    details = result.data.exception_details
    for e in longest_exceptions(result):
        by = e.resolved_by or e.acknowledged_by or ("open" if e.resolved is None else "")
        detail = " ".join(details.get(e.exception_id, "").split())
        lines.append(f"{e.exception_id[:27]:28}{e.type[:17]:18}{e.vehicle_id[:9]:10}"
                     f"{e.order_id[:13]:14}{_clock(e.detected, result):>7}"
                     f"{_clock(e.acknowledged, result):>7}{_clock(e.resolved, result):>9}  "
                     f"{by[:17]:18}{detail[:60]}")  # fmt: skip
    return _text_pages("Top exceptions and how they were resolved", "", lines, result, first,
                       "recovered: the exception's stop still reached by its window's end")  # fmt: skip


#: The long tables' fonts. DejaVu Sans Mono (the fonts-dejavu-core package; matplotlib
#: ships the same file) is embedded as TrueType (a subset of the glyphs used) and prints
#: every character: names in any European script, arrows, symbols. But matplotlib lays
#: out each glyph in Python: a 2,000-route day's 40 pages of routes took four to five
#: times the report's CPU (README, "KPIs and the day report"). So a page whose text
#: Windows-1252 holds (dashes, quotes, accented Western European letters included) is set
#: in the PDF viewer's own Courier instead, which prints those same characters with no
#: layout; any other page embeds DejaVu. Both are monospaced: the columns line up.
EMBEDDED: dict[Any, Any] = {"font.monospace": ["DejaVu Sans Mono"]}
VIEWERS_COURIER: dict[Any, Any] = {"pdf.use14corefonts": True, "font.monospace": ["Courier"]}


def table_fonts(fig: Figure) -> dict[Any, Any]:
    """The fonts a table page prints with: Courier when Windows-1252 holds all its text,
    else DejaVu Sans Mono embedded."""
    try:
        for t in fig.texts:
            t.get_text().encode("cp1252")
    except UnicodeEncodeError:
        return EMBEDDED
    return VIEWERS_COURIER


def write_report(
    result: DayKpis, out: str | Path, trend: Trend | None = None, csv_path: str | Path | None = None
) -> ReportFiles:
    """Write the day report PDF to ``out`` and the KPI rows as CSV (default: beside it)."""
    started = time.perf_counter()
    out = Path(out)
    csv_file = Path(csv_path) if csv_path else out.with_suffix(".csv")
    routes = route_lines(result)
    figures = [_kpi_page(result, 1), _charts_page(result, trend, 2, routes)]
    figures += _route_pages(result, len(figures) + 1, routes)
    figures += _exception_pages(result, len(figures) + 1)
    tmp = out.with_name(out.name + ".part")
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    # TrueType fonts go in as TrueType (subsets): matplotlib reads this when the file
    # closes, so it holds for the whole document.
    with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(
        tmp, metadata={"Title": f"Day report {result.depot_id} {result.day}",
                       "Creator": "Dispatch Desk", "CreationDate": datetime.now(UTC)},
    ) as pdf:  # fmt: skip
        for k, fig in enumerate(figures):
            if k < 2:
                pdf.savefig(fig)
                continue
            with matplotlib.rc_context(table_fonts(fig)):
                pdf.savefig(fig)
    tmp.replace(out)
    write_csv(result, csv_file)
    return ReportFiles(out, csv_file, len(figures), time.perf_counter() - started)


def render_page_png(result: DayKpis, out: str | Path, page: int = 1,
                    trend: Trend | None = None, dpi: int = 110) -> Path:  # fmt: skip
    """One page of the report as a PNG (the README's picture)."""
    fig = _kpi_page(result, 1) if page == 1 else _charts_page(result, trend, 2)
    fig.savefig(out, dpi=dpi)
    return Path(out)
