"""``python main.py report``: the day report PDF and the CSV of every KPI row."""

from __future__ import annotations

import csv

from app.kpis import report as day_report
from main import main
from tests.app.test_cli_kpis import desk  # noqa: F401  (the fixture)
from tests.app.test_kpis_facts import DAY, recorded  # noqa: F401  (the fixture)


def test_report_writes_a_pdf_and_the_kpi_rows(desk, capsys, tmp_path):  # noqa: F811
    out = tmp_path / "report.pdf"
    code = main(["report", "--day", DAY.isoformat(), "--out", str(out), "--database", desk.url])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert out.read_bytes().startswith(b"%PDF") and out.stat().st_size > 10_000
    assert "pages" in printed.out
    with open(tmp_path / "report.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    day = {r["name"]: r for r in rows if r["scope"] == "day"}
    assert float(day["on_time_delivery_pct"]["value"]) == 50.0
    assert day["on_time_delivery_pct"]["target"] == "95.0"
    assert day["on_time_delivery_pct"]["met"] == "False"
    assert {r["key"] for r in rows if r["scope"] == "route"} == {"R1", "R2"}


def test_report_refuses_a_folder_that_is_not_there(desk, capsys, tmp_path):  # noqa: F811
    code = main(["report", "--day", DAY.isoformat(), "--out", str(tmp_path / "no" / "r.pdf"),
                 "--database", desk.url])  # fmt: skip
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_long_tables_run_over_pages(desk):  # noqa: F811
    """A big fleet's route table is split: every line on some page, none cut off."""
    from app.kpis.service import compute_day

    result = compute_day(desk, "D1", DAY, save=False)
    lines = [f"route {i}" for i in range(2 * day_report.ROWS_PER_PAGE + 3)]
    pages = day_report._text_pages("Routes", "route", lines, result, 3)
    assert len(pages) == 3
    shown = [t.get_text() for p in pages for t in p.texts]
    assert all(any(line in text.split("\n") for text in shown) for line in lines)
    assert "(3 of 3)" in " ".join(shown)


def _streams(pdf: bytes) -> list[bytes]:
    """The PDF's streams, inflated (page contents, fonts' character maps)."""
    import re
    import zlib

    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            out.append(zlib.decompress(m.group(1)))
        except zlib.error:
            out.append(m.group(1))
    return out


def test_report_tables_print_dashes_and_names_in_any_european_script(desk, tmp_path):  # noqa: F811
    """R2 never came back: its 'actual h' and 'left' print the em dash (not '-'); a
    driver called Łukasz Żółć is printed so, in the DejaVu Sans Mono the report embeds."""
    from app.kpis.service import compute_day

    result = compute_day(desk, "D1", DAY, save=False)
    plain = day_report.write_report(result, tmp_path / "plain.pdf").pdf.read_bytes()
    r2 = next(s for s in _streams(plain) if b"Van 2" in s)
    line = r2[r2.index(b"R2") :].split(b"\n")[0]
    assert line.count("—".encode("cp1252")) == 2 and b" - " not in line
    result.data.driver_names.update({"D1": "Łukasz Żółć"})
    named = day_report.write_report(result, tmp_path / "named.pdf").pdf.read_bytes()
    assert b"DejaVuSansMono" in named and b"/FontFile2" in named  # embedded, as TrueType
    maps = b"".join(s for s in _streams(named) if b"beginbfrange" in s)
    for char in "ŁŻółć—":  # the embedded glyphs map back to these characters
        assert f"<{ord(char):04x}>".encode() in maps
