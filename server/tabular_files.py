"""Uploaded tables (the roster, the status feeds): one reader for the CSV and XLSX files Excel writes in China.

CSV is read as UTF-8 (with or without the BOM Excel's "CSV UTF-8" writes), as GBK/GB18030 (Excel's plain
"CSV" on a Chinese Windows) or as UTF-16 with a BOM (Excel's "Unicode text", tab-separated). The encoding
is detected, never guessed silently: a file that is mostly UTF-8 with a few broken bytes is refused naming
the rows of the broken bytes, not read as GB18030 mojibake. XLSX is read with openpyxl (read-only, values
not formulas; defusedxml, when installed, guards its XML parser). Old .xls files are refused with advice.

Every problem is a `TableError` naming the row as Excel shows it (the header is row 1) and the column as
the file names it, in Chinese and English. A file that cannot be read as a table at all raises
`TableFileError` with its errors; callers validate the rows and import nothing when any error exists.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 10 * 1024 * 1024  # an upload of 10,000 people is about 1 MB as CSV; ten times that is refused unread
MAX_ROWS = 100_000
# What the parts of an XLSX may unpack to: a small zip of highly compressible XML is a zip bomb otherwise.
MAX_XLSX_UNPACKED = 20 * MAX_BYTES
MAX_ERRORS = 200  # a wholly wrong file stops being reported after this many errors

XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary Excel format (OLE2)


@dataclass(frozen=True)
class TableError:
    """One problem with an uploaded table: the row (as Excel numbers it) and column, in Chinese and English."""

    row: int | None  # None: the file as a whole
    column: str | None  # the column's header as the file names it (or the accepted Chinese name)
    zh: str
    en: str

    def __str__(self) -> str:
        where_zh = (f"第{self.row}行" if self.row else "文件") + (f"「{self.column}」" if self.column else "")
        where_en = (f"row {self.row}" if self.row else "file") + (f", column {self.column}" if self.column else "")
        return f"{where_zh}：{self.zh} / {where_en}: {self.en}"

    def to_json(self) -> dict[str, object]:
        """The error as the API answers it."""
        return {"row": self.row, "column": self.column, "zh": self.zh, "en": self.en, "message": str(self)}


class TableFileError(ValueError):
    """A file that cannot be read as a table (too big, not CSV or XLSX, undecodable, wrong columns)."""

    def __init__(self, errors: Sequence[TableError]) -> None:
        super().__init__("; ".join(str(e) for e in errors[:3]))
        self.errors = list(errors)


@dataclass(frozen=True)
class Column:
    """A column an import reads: its field name and the headers (Chinese and English) it accepts."""

    field: str
    names: tuple[str, ...]  # the first is the one error messages name when the file lacks the column
    required: bool = True


@dataclass(frozen=True)
class TableRow:
    """One data row: its number as Excel shows it and each known column's text ('' when empty)."""

    number: int
    values: dict[str, str]
    numeric: frozenset[str] = frozenset()  # fields whose cell was a number in an XLSX (an ID number's digits lost)


@dataclass
class Table:
    """A read table: its rows, the header each field was found under, and how the file was read."""

    rows: list[TableRow]
    headers: dict[str, str]
    encoding: str  # utf-8 | utf-8-sig | gb18030 | utf-16 | xlsx


# Columns a Chinese spreadsheet often carries beside the data: accepted, not read.
IGNORED_HEADERS = ("序号", "编号", "no", "no.", "#", "备注", "note", "notes", "remark", "remarks")


def _header_key(text: str) -> str:
    """A header as compared: no spaces, BOM or zero-width characters, case folded, full-width brackets made ASCII."""
    text = text.replace("\ufeff", "").replace("\u200b", "").replace("（", "(").replace("）", ")")
    return "".join(text.split()).replace("_", "").replace("-", "").casefold()


def read_table_file(path: Path | str, columns: Sequence[Column], *, max_bytes: int = MAX_BYTES) -> Table:
    """Read a table from a file on disk; its size is checked before any of it is read."""
    return read_table(file_bytes(path, max_bytes=max_bytes), Path(path).name, columns, max_bytes=max_bytes)


def file_bytes(path: Path | str, *, max_bytes: int = MAX_BYTES) -> bytes:
    """A table file's bytes, its size checked first (a 50 MB file is refused unread); raises TableFileError."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise TableFileError([_too_big(size, max_bytes)])
        return path.read_bytes()
    except OSError as e:
        raise TableFileError([TableError(None, None, f"无法读取文件：{e.strerror}", f"cannot read the file: {e.strerror}")]) from None


def read_table(data: bytes, filename: str, columns: Sequence[Column], *, max_bytes: int = MAX_BYTES) -> Table:
    """Read an uploaded table (CSV or XLSX, told by its bytes) into rows of the given columns; raises TableFileError."""
    if len(data) > max_bytes:
        raise TableFileError([_too_big(len(data), max_bytes)])
    if not data.strip():
        raise TableFileError([TableError(None, None, "文件为空", "the file is empty")])
    if data.startswith(XLS_MAGIC):
        raise TableFileError([TableError(None, None, "不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 或 CSV",
                                         "old .xls files are not read: save as .xlsx or CSV in Excel")])
    if data.startswith(XLSX_MAGIC):
        raw_rows, encoding = _xlsx_rows(data), "xlsx"
    else:
        if filename.lower().endswith((".xlsx", ".xlsm")):
            raise TableFileError([TableError(None, None, "文件扩展名为 .xlsx，但内容不是 Excel 工作簿",
                                             "the file is named .xlsx but is not an Excel workbook")])
        text, encoding = decode_text(data)
        raw_rows = _csv_rows(text)
    return _table(raw_rows, columns, encoding)


def _too_big(size: int, limit: int) -> TableError:
    """The error of a file over the size limit."""
    mb, limit_mb = size / 2**20, limit / 2**20
    return TableError(None, None, f"文件过大（{mb:.1f} MB），上限为 {limit_mb:.0f} MB",
                      f"the file is too large ({mb:.1f} MB); the limit is {limit_mb:.0f} MB")


# ---- CSV --------------------------------------------------------------------------------------

def decode_text(data: bytes) -> tuple[str, str]:
    """The text of a CSV file and its detected encoding; raises TableFileError naming the rows of undecodable bytes."""
    if data.startswith(b"\xef\xbb\xbf"):
        return _decode_strict(data[3:], "utf-8", "utf-8-sig"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _decode_strict(data, "utf-16", "utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # GBK text decoded as UTF-8 fails at almost every non-ASCII byte; UTF-8 text with a few broken bytes
    # decodes mostly. Such a file is refused, not read as GB18030 (which accepts most byte pairs) as mojibake.
    text = data.decode("utf-8", errors="replace")  # one U+FFFD for each undecodable run
    bad = text.count("\ufffd")
    good = len(text) - len(text.encode("ascii", errors="ignore")) - bad  # the non-ASCII characters decoded
    if good > bad:
        raise TableFileError(_undecodable(data, _bad_utf8_offsets(data), "UTF-8"))
    return _decode_strict(data, "gb18030", "GBK/GB18030"), "gb18030"


def _decode_strict(data: bytes, codec: str, label: str) -> str:
    """Data decoded with a codec, or TableFileError naming the row of the first byte it cannot decode."""
    try:
        return data.decode(codec)
    except UnicodeDecodeError as e:
        raise TableFileError(_undecodable(data, [e.start], label)) from None


def _bad_utf8_offsets(data: bytes) -> list[int]:
    """The offsets of the bytes that are not UTF-8 (the first MAX_ERRORS: each costs a decode of the rest)."""
    offsets, start = [], 0
    while start < len(data) and len(offsets) < MAX_ERRORS:
        try:
            data[start:].decode("utf-8")
            break
        except UnicodeDecodeError as e:
            offsets.append(start + e.start)
            start += e.end
    return offsets


def _undecodable(data: bytes, offsets: Iterable[int], label: str) -> list[TableError]:
    """One error per row (line) holding undecodable bytes."""
    rows = sorted({data.count(b"\n", 0, at) + 1 for at in offsets})
    return [TableError(row, None, f"含有无法识别的字节（文件看似 {label} 编码，但此行已损坏）",
                       f"bytes that cannot be decoded (the file looks like {label}, this row is damaged)")
            for row in rows[:MAX_ERRORS]]


def _csv_rows(text: str) -> list[list[object]]:
    """A CSV text's records (comma-separated, or tab-separated when its first line has tabs and no commas)."""
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first else ","
    try:
        rows: list[list[object]] = []
        for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True):
            rows.append(list(record))
            if len(rows) > MAX_ROWS + 1:
                raise TableFileError([_too_many_rows()])
        return rows
    except csv.Error as e:
        raise TableFileError([TableError(len(rows) + 1, None, f"CSV 格式错误（{e}）", f"malformed CSV ({e})")]) from None


def _too_many_rows() -> TableError:
    """The error of a table over the row limit."""
    return TableError(None, None, f"行数超过上限 {MAX_ROWS}", f"more than {MAX_ROWS} rows")


# ---- XLSX -------------------------------------------------------------------------------------

def _xlsx_rows(data: bytes) -> list[list[object]]:
    """The first worksheet's rows (values, not formulas), each row's place kept so numbers match Excel's."""
    import openpyxl  # the hub's extra; only imports that read XLSX pay for it

    not_workbook = TableFileError([TableError(None, None, "无法读取该 Excel 文件（文件已损坏或不是 .xlsx）",
                                              "cannot read this Excel file (damaged, or not .xlsx)")])
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except zipfile.BadZipFile:
        raise not_workbook from None
    if unpacked > MAX_XLSX_UNPACKED:
        raise TableFileError([TableError(None, None, "Excel 文件解压后过大", "the Excel file unpacks to too much data")])
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises KeyError, ValueError, XML and zip errors for damaged files alike
        raise not_workbook from None
    try:
        sheet = book.worksheets[0]
        rows: list[list[object]] = []
        # read_only sheets yield every row from 1 on, empty ones included, so the index is Excel's number.
        for values in sheet.iter_rows(min_row=1, values_only=True):
            rows.append(list(values))
            if len(rows) > MAX_ROWS + 1:
                raise TableFileError([_too_many_rows()])
        return rows
    except TableFileError:
        raise
    except Exception:
        raise not_workbook from None
    finally:
        book.close()


def _cell_text(value: object) -> str:
    """A cell as text the way Excel shows it: whole numbers without '.0', dates as ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


# ---- header and rows --------------------------------------------------------------------------

def _table(raw_rows: list[list[object]], columns: Sequence[Column], encoding: str) -> Table:
    """Map the header to the columns and the rows to their fields; TableFileError on a wrong header."""
    header_at = next((i for i, r in enumerate(raw_rows) if any(_cell_text(v) for v in r)), None)
    if header_at is None:
        raise TableFileError([TableError(None, None, "文件中没有表格内容", "the file holds no table")])
    header = [_cell_text(v) for v in raw_rows[header_at]]
    by_key = {_header_key(name): col for col in columns for name in col.names}
    ignored = {_header_key(n) for n in IGNORED_HEADERS}
    errors: list[TableError] = []
    places: dict[str, int] = {}
    headers: dict[str, str] = {}
    header_row = header_at + 1
    for i, name in enumerate(header):
        key = _header_key(name)
        if not key or key in ignored:
            continue
        col = by_key.get(key)
        if col is None:
            accepted = "、".join(c.names[0] for c in columns)
            errors.append(TableError(header_row, name, f"无法识别的列名（可用的列：{accepted}）",
                                     f"unknown column (accepted: {', '.join(c.names[1] if len(c.names) > 1 else c.names[0] for c in columns)})"))
        elif col.field in places:
            errors.append(TableError(header_row, name, f"与「{headers[col.field]}」重复", f"the same column as {headers[col.field]!r}"))
        else:
            places[col.field], headers[col.field] = i, name
    for col in columns:
        if col.required and col.field not in places:
            errors.append(TableError(header_row, col.names[0], "缺少必需的列", "a required column is missing"))
    if errors:
        raise TableFileError(errors)
    rows = []
    for i in range(header_at + 1, len(raw_rows)):
        raw = raw_rows[i]
        if not any(_cell_text(v) for v in raw):
            continue  # a blank row between data rows: Excel users leave them
        values = {f: (_cell_text(raw[p]) if p < len(raw) else "") for f, p in places.items()}
        numeric = frozenset(f for f, p in places.items()
                            if p < len(raw) and isinstance(raw[p], (int, float)) and not isinstance(raw[p], bool))
        rows.append(TableRow(i + 1, values, numeric))
    return Table(rows, headers, encoding)


def duplicate_errors(table: Table, field_name: str, key: Callable[[str], str | None] = lambda v: v or None) -> list[TableError]:
    """An error for each row whose `key(value)` another row already had, naming that first row."""
    seen: dict[str, int] = {}
    errors = []
    for row in table.rows:
        k = key(row.values.get(field_name, ""))
        if k is None:
            continue
        if k in seen:
            errors.append(TableError(row.number, table.headers.get(field_name, field_name),
                                     f"与第{seen[k]}行重复", f"the same as row {seen[k]}"))
        else:
            seen[k] = row.number
    return errors
