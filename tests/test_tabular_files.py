"""The reader of uploaded tables (server/tabular_files.py): the encodings and formats Excel writes in China,
and every malformed file refused with an error naming its row and column."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest

from server import tabular_files
from server.tabular_files import Column, TableFileError, duplicate_errors, read_table, read_table_file

COLUMNS = [
    Column("id_number", ("身份证号", "id number", "公民身份号码")),
    Column("name", ("姓名", "name")),
    Column("phone", ("手机号", "phone"), required=False),
]
ROWS = [["身份证号", "姓名", "手机号"], ["11010519491231002X", "张三丰", "13812345678"], ["440524188001010014", "李四", ""]]


def _csv(rows, sep=","):
    return "\r\n".join(sep.join(r) for r in rows) + "\r\n"


def _xlsx(rows) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for r in rows:
        sheet.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _errors(data, name="people.csv"):
    with pytest.raises(TableFileError) as e:
        read_table(data, name, COLUMNS)
    return e.value.errors


@pytest.mark.parametrize(("data", "encoding"), [
    (_csv(ROWS).encode("utf-8"), "utf-8"),
    (b"\xef\xbb\xbf" + _csv(ROWS).encode("utf-8"), "utf-8-sig"),  # Excel's "CSV UTF-8"
    (_csv(ROWS).encode("gbk"), "gb18030"),  # Excel's plain "CSV" on a Chinese Windows
    (_csv(ROWS, "\t").encode("utf-16"), "utf-16"),  # Excel's "Unicode text"
    (_xlsx(ROWS), "xlsx"),
])
def test_each_encoding_excel_writes_reads_the_same_rows(data, encoding):
    table = read_table(data, "people.csv" if encoding != "xlsx" else "people.xlsx", COLUMNS)
    assert table.encoding == encoding
    assert [(r.number, r.values) for r in table.rows] == [
        (2, {"id_number": "11010519491231002X", "name": "张三丰", "phone": "13812345678"}),
        (3, {"id_number": "440524188001010014", "name": "李四", "phone": ""}),
    ]
    assert table.headers == {"id_number": "身份证号", "name": "姓名", "phone": "手机号"}


def test_gb18030_only_characters_and_english_headers():
    rows = [["ID Number", " Name ", "序号"], ["11010519491231002X", "𠀀䶮", "1"]]  # beyond GBK: GB18030 4-byte forms
    table = read_table(_csv(rows).encode("gb18030"), "p.csv", COLUMNS)
    assert table.rows[0].values == {"id_number": "11010519491231002X", "name": "𠀀䶮"}
    assert table.headers["name"] == "Name"


def test_xlsx_row_numbers_blank_rows_and_numbers_as_excel_shows_them():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["A3"], sheet["B3"] = "身份证号", "姓名"  # the header is row 3, two empty rows above it
    sheet["A4"], sheet["B4"] = "11010519491231002X", "张三丰"
    sheet["A7"], sheet["B7"] = 110101199003074477, "王五"  # an ID typed as a number; rows 5-6 empty
    sheet["A8"], sheet["B8"] = 12.0, "赵六"
    out = io.BytesIO()
    book.save(out)
    table = read_table(out.getvalue(), "p.xlsx", COLUMNS)
    # Excel keeps numbers as doubles: an 18-digit number typed as a number has lost its last digits,
    # which is why the row says its cell was a number.
    assert [(r.number, r.values["id_number"], r.numeric) for r in table.rows] == [
        (4, "11010519491231002X", frozenset()), (7, "110101199003074496", {"id_number"}), (8, "12", {"id_number"})]


def test_garbage_bytes_are_refused_naming_the_row():
    data = "身份证号,姓名\n11010519491231002X,张三丰\n".encode() + b"440524188001010014,\xff\xfe\xfa\n"
    assert [(e.row, e.column) for e in _errors(data)] == [(3, None)]
    assert "UTF-8" in str(_errors(data)[0])


def test_random_bytes_are_refused_not_read_as_mojibake():
    import random
    data = bytes(random.Random(7).randrange(256) for _ in range(4000))
    errors = _errors(data)
    assert errors and all(e.zh and e.en for e in errors)


def test_broken_gbk_names_its_row():
    data = _csv(ROWS).encode("gbk") + b"440524188001010014,\x81\n"
    errors = _errors(data)
    assert [e.row for e in errors] == [4] and "GBK" in str(errors[0])


def test_a_50_mb_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    big = tmp_path / "big.csv"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # sparse: the size is what is checked
    monkeypatch.setattr(tabular_files, "read_table", lambda *a, **k: pytest.fail("the file was read"))
    with pytest.raises(TableFileError) as e:
        read_table_file(big, COLUMNS)
    assert "50.0 MB" in str(e.value) and "10 MB" in str(e.value)


def test_a_50_mb_upload_is_refused():
    errors = _errors(b"a" * (50 * 1024 * 1024))
    assert len(errors) == 1 and errors[0].row is None and "MB" in errors[0].en


def test_wrong_columns_are_named():
    errors = _errors(_csv([["身份证", "姓名", "电话号码"], ["1", "2", "3"]]).encode())
    assert [(e.row, e.column) for e in errors] == [(1, "身份证"), (1, "电话号码"), (1, "身份证号")]
    assert "unknown column" in errors[0].en and "required column is missing" in errors[2].en


def test_the_same_column_twice_is_refused():
    errors = _errors(_csv([["身份证号", "姓名", "name"], ["1", "2", "3"]]).encode())
    assert [(e.row, e.column) for e in errors] == [(1, "name")]


def test_duplicates_name_both_rows():
    rows = ROWS + [["11010519491231002x ", "张三", ""]]
    table = read_table(_csv(rows).encode(), "p.csv", COLUMNS)
    errors = duplicate_errors(table, "id_number", key=lambda v: v.strip().upper() or None)
    assert [(e.row, e.column, e.en) for e in errors] == [(4, "身份证号", "the same as row 2")]


@pytest.mark.parametrize(("data", "name", "words"), [
    (b"", "p.csv", "empty"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "p.xls", ".xls"),
    (_csv(ROWS).encode(), "p.xlsx", "not an Excel workbook"),
    (b"PK\x03\x04" + b"\0" * 100, "p.xlsx", "cannot read this Excel file"),
    (b'\xef\xbb\xbf\xe8\xba\xab\xe4\xbb\xbd\xe8\xaf\x81\xe5\x8f\xb7,\xe5\xa7\x93\xe5\x90\x8d\n"1,2\n', "p.csv", "malformed CSV"),
])
def test_malformed_files_are_refused(data, name, words):
    errors = _errors(data, name)
    assert any(words in e.en for e in errors), errors


def test_a_zip_that_is_not_a_workbook_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    assert "cannot read this Excel file" in _errors(out.getvalue(), "p.xlsx")[0].en


def test_an_xlsx_that_unpacks_to_too_much_is_refused(monkeypatch):
    monkeypatch.setattr(tabular_files, "MAX_XLSX_UNPACKED", 1000)
    assert "unpacks" in _errors(_xlsx(ROWS * 20), "p.xlsx")[0].en


def test_error_text_names_row_and_column_in_both_languages():
    e = tabular_files.TableError(3, "身份证号", "校验位错误", "wrong check digit")
    assert str(e) == "第3行「身份证号」：校验位错误 / row 3, column 身份证号: wrong check digit"
    assert e.to_json()["row"] == 3
