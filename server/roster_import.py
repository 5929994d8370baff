"""A venue's roster from an uploaded CSV or XLSX (issue 10, Enrolment): every row checked, nothing stored if any is wrong.

Columns: resident ID number (GB 11643 check digit), name, person class, group (department, class or shift),
phone (optional), by their Chinese or English headers. Each row becomes a `PersonRecord`: the keyed hash of
the ID number, the masked name and phone; the number and the full name are never kept. A file with any
error imports nothing and the errors name their rows and columns; a good file replaces the venue's roster
by ID (`HubStore.apply_roster`: added, changed, removed). The CLI, the API and the console all call
`import_roster`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from protocols.display import DISPLAY
from protocols.events import mask_name
from server.id_numbers import IdNumberError, PhoneNumberError, check_id_number, mask_phone
from server.store_people import PersonRecord, RosterChanges
from server.tabular_files import MAX_ERRORS, Column, Table, TableError, TableFileError, duplicate_errors, read_table

COLUMNS = (
    Column("id_number", ("身份证号", "id number", "身份证号码", "身份证", "公民身份号码", "证件号码", "id", "id_number")),
    Column("name", ("姓名", "name", "名字")),
    Column("person_class", ("人员类别", "person class", "类别", "人员类型", "class", "type")),
    Column("group", ("分组", "group", "部门", "班级", "班次", "department", "shift")),
    Column("phone", ("手机号", "phone", "手机", "手机号码", "联系电话", "电话", "mobile"), required=False),
)
MAX_TEXT = 64  # a name or a group longer than this is a pasted paragraph, not a name

# A class cell may say the class as the console shows it (员工) or as the rules name it (staff).
_CLASS_WORDS = {word.casefold(): token for token, (zh, en) in DISPLAY["person_class"].items() for word in (zh, en, token)}
_CLASS_WORDS.update({"老师": "teacher", "职工": "staff", "教职工": "staff", "外卖员": "courier", "送货员": "courier"})


@dataclass
class RosterImport:
    """What an import of a file did: its errors (then nothing stored), or the changes (none in a dry run)."""

    rows: int = 0
    encoding: str | None = None
    errors: list[TableError] = field(default_factory=list)
    changes: RosterChanges | None = None
    dry_run: bool = False
    records: list[PersonRecord] = field(default_factory=list, repr=False)  # hashed and masked; what a confirmation stores

    @property
    def ok(self) -> bool:
        """Whether the file was accepted (every row valid)."""
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        """The import as the API answers it."""
        out: dict[str, Any] = {"rows": self.rows, "encoding": self.encoding, "dry_run": self.dry_run}
        if self.changes is not None:
            c = self.changes
            out.update(added=c.added, changed=c.changed, removed=c.removed, unchanged=c.unchanged,
                       roster_version=c.roster_version)
        if self.errors:
            out["errors"] = [e.to_json() for e in self.errors]
        return out


def parse_roster(data: bytes, filename: str, hasher: Callable[[str], str]) -> tuple[Table | None, list[PersonRecord], list[TableError]]:
    """Read and check a roster file: its table, the records (hashed by `hasher`) and every error found."""
    try:
        table = read_table(data, filename, COLUMNS)
    except TableFileError as e:
        return None, [], e.errors
    errors: list[TableError] = []
    records = []
    for row in table.rows:
        record = _record(row.number, row.values, row.numeric, table.headers, hasher, errors)
        if record is not None:
            records.append(record)
        if len(errors) >= MAX_ERRORS:
            break
    errors += duplicate_errors(table, "id_number", key=lambda v: "".join(v.split()).upper() or None)
    errors.sort(key=lambda e: (e.row or 0))
    return table, records, errors[:MAX_ERRORS]


def import_roster(store: Any, venue: str, data: bytes, filename: str, *, by_user: str, dry_run: bool = False) -> RosterImport:
    """Check a roster file and, when every row is valid, make it the venue's roster (a dry run stores nothing)."""
    table, records, errors = parse_roster(data, filename, store.id_hash)
    result = RosterImport(rows=len(table.rows) if table else 0, encoding=table.encoding if table else None,
                          errors=errors, dry_run=dry_run)
    if errors:
        store.add_audit(by_user, "roster.refused", f"{filename[:100]}: {len(errors)} error(s)", venue)
        return result
    if not records:
        result.errors = [TableError(None, None, "文件中没有人员", "the file lists nobody")]
        return result
    result.records = records
    result.changes = store.apply_roster(venue, records, by_user=by_user, dry_run=dry_run)
    if dry_run:  # apply_roster audits the import itself; a preview compared the file with the stored people
        c = result.changes
        store.add_audit(by_user, "roster.preview", f"added {c.added}, changed {c.changed}, removed {c.removed}", venue)
    return result


def _record(number: int, values: dict[str, str], numeric: frozenset[str], headers: dict[str, str],
            hasher: Callable[[str], str], errors: list[TableError]) -> PersonRecord | None:
    """One row as a PersonRecord, or None with its errors (one per wrong cell) added to `errors`."""
    found: list[TableError] = []

    def refuse(column: str, zh: str, en: str) -> None:
        found.append(TableError(number, headers.get(column, column), zh, en))

    id_hash = None
    if "id_number" in numeric:
        refuse("id_number", "身份证号被 Excel 存成了数字，末几位已丢失：请把该列设为文本后重新填写",
               "Excel stored the ID number as a number and lost its last digits: format the column as text and type it again")
    else:
        try:
            id_hash = hasher(check_id_number(values["id_number"]))
        except IdNumberError as e:
            refuse("id_number", e.zh, e.en)
    name = values["name"]
    if not name:
        refuse("name", "缺少姓名", "the name is missing")
    elif len(name) > MAX_TEXT or not _printable(name):
        refuse("name", f"姓名须为不超过{MAX_TEXT}个可显示的字符", f"a name is at most {MAX_TEXT} printable characters")
    person_class = _CLASS_WORDS.get(values["person_class"].casefold())
    if person_class is None:
        accepted = "、".join(zh for zh, _ in DISPLAY["person_class"].values())
        refuse("person_class", f"人员类别无效（可用：{accepted}）",
               f"unknown person class (accepted: {', '.join(DISPLAY['person_class'])})")
    group = values["group"] or None
    if group is not None and (len(group) > MAX_TEXT or not _printable(group)):
        refuse("group", f"分组须为不超过{MAX_TEXT}个可显示的字符", f"a group is at most {MAX_TEXT} printable characters")
    phone = None
    try:
        phone = mask_phone(values.get("phone", ""))
    except PhoneNumberError as e:
        refuse("phone", e.zh, e.en)
    if found or id_hash is None or person_class is None:
        errors.extend(found)
        return None
    return PersonRecord(id_hash, mask_name(name) or "*", person_class, group, phone)


def _printable(text: str) -> bool:
    """No control or format characters (a name with a newline or a bidi override is not a name)."""
    return not any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)
