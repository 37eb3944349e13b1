"""Case lists as CSV and XLSX, safe to open in a spreadsheet.

A spreadsheet evaluates a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and some with a
leading tab or carriage return) as a formula, so a project titled ``=HYPERLINK(…)`` could run
in a reviewer's Excel (CSV/formula injection, OWASP). Every text cell that starts so gets a
leading apostrophe; numbers and dates stay typed values.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

Cell = str | int | float | date | None
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIMETYPE = "text/csv"


def neutralise(value: Cell) -> Cell:
    """A text cell a spreadsheet would take as a formula, prefixed with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
    """RFC 4180 CSV in UTF-8: comma-separated, quoted where needed, dates as ISO 8601."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise(h) for h in header])
    for row in rows:
        writer.writerow(
            [
                "" if v is None else v.isoformat() if isinstance(v, date) else neutralise(v)
                for v in row
            ]
        )
    return buffer.getvalue().encode("utf-8")


def write_xlsx(header: Sequence[str], rows: Sequence[Sequence[Cell]], sheet: str) -> bytes:
    """One worksheet with a bold, frozen header row and a filter; dates as date cells."""
    book = Workbook()
    table = book.active
    assert table is not None
    table.title = sheet[:31]
    table.append([neutralise(h) for h in header])
    for row in rows:
        table.append([neutralise(v) for v in row])
    for cell in table[1]:
        cell.font = Font(bold=True)
    for column in table.iter_cols(min_row=2):
        for cell in column:
            if isinstance(cell.value, date):
                cell.number_format = "yyyy-mm-dd"
    for index, name in enumerate(header, start=1):
        longest = max([len(str(name))] + [len(str(r[index - 1] or "")) for r in rows[:200]])
        table.column_dimensions[get_column_letter(index)].width = min(max(longest, 6) + 2, 60)
    table.freeze_panes = "A2"
    if rows:
        table.auto_filter.ref = table.dimensions
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
