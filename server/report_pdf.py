"""The daily report as a PDF (fpdf2), with a CJK font embedded (subset) so it reads the same on any machine.

The font is a TrueType file or collection (.ttf/.ttc) on the hub's machine: the hub setting REPORT_FONT, else
the first of FONT_CANDIDATES that exists (scripts/bootstrap.sh installs fonts-wqy-zenhei, the first one).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo


from protocols.errors import CheckpointError
from server.reports import DailyReport, filing_lines, report_lines

# fontTools says at every subset that it drops the font's bitmap table (BDF), which a PDF does not use.
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # Debian's fonts-wqy-zenhei
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # fonts-wqy-microhei
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # fonts-noto-cjk
    "/usr/share/fonts/truetype/arphic/uming.ttc",  # fonts-arphic-uming
)


class NoCjkFont(CheckpointError):
    """No font with Chinese characters to write the PDF with (REPORT_FONT names none, none of the usual is installed)."""

    reason = "no_cjk_font"


def cjk_font(configured: str | None = None) -> Path:
    """The CJK font file to embed: the configured one (which must exist), else the first installed candidate."""
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise NoCjkFont(f"REPORT_FONT {configured!r} 不存在 / is not a file")
        return path
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise NoCjkFont("未安装中文字体 / no CJK font installed: apt-get install fonts-wqy-zenhei (or set REPORT_FONT)")


def report_pdf(report: DailyReport, venue_name: str, filed: dict[str, Any] | None, tz: ZoneInfo, font: Path) -> bytes:
    """The report as PDF bytes: a title, then every line of the CSV as a two-column table."""
    # fpdf2 (and fontTools, numpy under it) imported here, at the first PDF: at import it was 0.6 s of CPU in
    # every hub start-up (bench/serve_start.py), for a download few ask for.
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    pdf = FPDF(format="A4")
    pdf.set_title(f"日报告 Daily report {report.venue} {report.day}")
    pdf.set_creator("venue checkpoint hub")
    pdf.add_font("cjk", fname=str(font))
    pdf.add_page()
    pdf.set_font("cjk", size=16)
    pdf.multi_cell(0, 9, f"日报告 Daily report · {venue_name} · {report.day}", new_x="LMARGIN", new_y="NEXT")
    if report.is_zero:
        pdf.set_font("cjk", size=11)
        pdf.multi_cell(0, 7, "零报告：当日无进出记录 / Zero report: nothing happened", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("cjk", size=10)
    with pdf.table(col_widths=(80, 110), text_align=("LEFT", "LEFT"), first_row_as_headings=True,
                   # No bold face: the embedded CJK font has one weight only.
                   headings_style=FontFace(emphasis="", fill_color=(230, 230, 230))) as table:
        for label, value in [("项目 item", "值 value"), *report_lines(report), *filing_lines(filed, tz)]:
            row = table.row()
            row.cell(str(label))
            row.cell("" if value is None else str(value))
    return bytes(pdf.output())
