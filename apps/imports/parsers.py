"""Read an uploaded spreadsheet (xlsx or csv) into a header and numbered rows.

Everything a user can upload ends here as a `Table` or a `FileRefused` with one clear
message: wrong type, too big, too many rows, an encoding we cannot read, a zip bomb.
Row numbers are the ones the user sees in their spreadsheet (the header is row 1).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from itertools import islice, repeat

from django.conf import settings
from python_calamine import CalamineError, CalamineWorkbook

from .errors import FileRefused

XLSX_MAGIC = b"PK\x03\x04"
# An xlsx inflates roughly tenfold; far more than that is a zip bomb, not a catalog.
MAX_INFLATE_RATIO = 200
# A sheet padded with formatted-but-empty rows ends where this many blank rows follow.
BLANK_RUN_END = 1000
# Rows read and turned into text together (_block_texts).
ROWS_BLOCK = 10_000
FORMULA_STARTS = ("=", "+", "-", "@")
# Names that promise a workbook: such a file that is not one is refused, not read as CSV.
XLSX_NAMES = (".xlsx", ".xlsm", ".xls", ".ods")


@dataclass
class Table:
    header: list[str]
    # (row number as the user sees it, cell values as text, aligned with the header)
    rows: list[tuple[int, list[str]]] = field(default_factory=list)
    file_type: str = "csv"  # "csv" or "xlsx": the error file is written the same way
    encoding: str = "utf-8"
    delimiter: str = ","


def cell_text(value) -> str:
    """One cell as text. calamine gives floats for numeric cells: 12.0 is "12"."""
    if type(value) is str:  # most cells: the cheapest test first
        text = value.strip()
        if text[:1] == "'" and text[1:2] in FORMULA_STARTS:
            return text[1:]  # our exports quote what a spreadsheet would run as a formula
        return text
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = str(value).strip()
    if text[:1] == "'" and text[1:2] in FORMULA_STARTS:
        return text[1:]
    return text


def file_type_of(data_head: bytes, filename: str) -> str:
    if data_head.startswith(XLSX_MAGIC):
        return "xlsx"
    lowered = filename.lower()
    if lowered.endswith(XLSX_NAMES):
        raise FileRefused(
            f"{filename} is not an Excel workbook (.xlsx) even though its name says so. "
            "Save it again as .xlsx or .csv."
        )
    return "csv"


def table_read(path_or_bytes, filename: str) -> Table:
    """Read the whole file; refuse it with one message if it cannot be imported."""
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else _read_bytes(path_or_bytes)
    if not data.strip():
        raise FileRefused("The file is empty.")
    if len(data) > settings.OMO_IMPORT_MAX_BYTES:
        raise FileRefused(size_message(len(data)))
    if file_type_of(data[:8], filename) == "xlsx":
        return _read_xlsx(data, filename)
    return _read_csv(data, filename)


def size_message(size: int) -> str:
    limit = settings.OMO_IMPORT_MAX_BYTES
    return (
        f"The file is {size / 1_048_576:.1f} MB; the limit is {limit / 1_048_576:.1f} MB. "
        "Split it into smaller files."
    )


def _read_bytes(path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(settings.OMO_IMPORT_MAX_BYTES + 1)


def _column_texts(values: tuple) -> list[str]:
    """cell_text of each of a column's cells, a column at a time: the cells of one
    column are nearly always of one or two types and repeat the same few numbers, so
    text cells are stripped by one C call over the column and other cells are read once
    per distinct value (1.3 million cell_text calls were a third of reading a 100k-row
    sheet)."""
    kinds = set(map(type, values))
    if kinds == {str}:
        texts = list(map(str.strip, values))
        # A quote anywhere in the column (one search over its text) before a look at
        # the start of each cell.
        if "'" in "".join(texts) and any(map(str.startswith, texts, repeat("'"))):
            texts = [
                text[1:] if text[:1] == "'" and text[1:2] in FORMULA_STARTS else text
                for text in texts
            ]
        return texts
    if len(kinds & {bool, int, float}) > 1:
        # True == 1 == 1.0 and 10**16 == 1e16 as dict keys, but not as text.
        return list(map(cell_text, values))
    text_of = {value: cell_text(value) for value in set(values)}
    return list(map(text_of.__getitem__, values))


def _block_texts(block: list, width: int) -> tuple[list[list[str]], list[bool]]:
    """(each row's first `width` cells as text, padded with blanks; whether the row
    has any text at all, beyond `width` too)."""
    longest = max(map(len, block))
    if min(map(len, block)) < width:
        block = [
            values if len(values) >= width else [*values, *[""] * (width - len(values))]
            for values in block
        ]
    # zip stops at the shortest row: every row is at least `width` long here.
    columns = list(islice(zip(*block, strict=False), width))
    texts = list(map(_column_texts, columns))
    rows = list(map(list, zip(*texts, strict=True)))
    # A row with its first cell filled has text: a block whose first column is all
    # filled (nearly always) is not looked at row by row.
    filled = [True] * len(rows) if texts and all(texts[0]) else list(map(any, rows))
    if longest > width:  # a row with text only right of the header is not blank
        filled = [
            has_text or any(map(cell_text, values[width:]))
            for has_text, values in zip(filled, block, strict=True)
        ]
    return rows, filled


def _table_from(raw_rows, file_type: str, **extra) -> Table:
    iterator = iter(raw_rows)
    header_row = None
    header_number = 0
    for values in iterator:
        header_number += 1
        header_row = [cell_text(v) for v in values]
        if any(header_row):
            break
        if header_number >= BLANK_RUN_END:
            break
    if not header_row or not any(header_row):
        raise FileRefused("The file is empty: no header row was found.")
    while header_row and not header_row[-1]:
        header_row.pop()
    width = len(header_row)
    table = Table(header=header_row, file_type=file_type, **extra)
    # Non-blank rows, numbered as the user sees them; read a block at a time and
    # ended at the row limit or at a long run of blank rows (a sheet that claims a
    # million empty rows must not hang).
    max_rows = settings.OMO_IMPORT_MAX_ROWS
    number, count, blank_run = header_number, 0, 0
    kept = table.rows
    while block := list(islice(iterator, ROWS_BLOCK)):
        texts_of_rows, filled = _block_texts(block, width)
        if all(filled) and count + len(filled) <= max_rows:
            # No blank row and within the limit: the loop below would number and keep
            # every row, as this does.
            kept += zip(range(number + 1, number + len(filled) + 1), texts_of_rows, strict=True)
            number += len(filled)
            count += len(filled)
            blank_run = 0
            continue
        for texts, has_text in zip(texts_of_rows, filled, strict=True):
            number += 1
            if not has_text:
                blank_run += 1
                if blank_run >= BLANK_RUN_END:
                    return table
                continue
            blank_run = 0
            count += 1
            if count > max_rows:
                raise FileRefused(
                    f"The file has more than {max_rows:,} rows, the limit. Split it into "
                    "smaller files."
                )
            kept.append((number, texts))
    return table


def _read_xlsx(data: bytes, filename: str) -> Table:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as error:
        raise FileRefused(
            f"{filename} is not a readable .xlsx file (the archive is damaged)."
        ) from error
    if inflated > max(len(data) * MAX_INFLATE_RATIO, 50 * 1_048_576):
        raise FileRefused(
            f"{filename} expands to {inflated / 1_048_576:.0f} MB when opened: refused as unsafe."
        )
    _sheet_extent_check(data, filename)
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheet = workbook.get_sheet_by_index(0)
        return _table_from(sheet.iter_rows(), "xlsx")
    except CalamineError as error:
        raise FileRefused(f"{filename} is not a readable .xlsx file ({error}).") from error
    except (ValueError, KeyError, IndexError) as error:
        raise FileRefused(f"{filename} is not a readable .xlsx file.") from error


ROW_TAG = re.compile(rb'<(?:\w+:)?row\b[^>]*?\br="(\d+)"')
WIDE_CELL = re.compile(rb'<(?:\w+:)?c\b[^>]*?\br="[A-Z]{3}\d')
# The same searches led by a literal, which re scans for quickly (a pattern starting at
# every `<` cost a second per 100,000 rows); the exact pattern confirms each hit.
PLAIN_ROW_TAG = re.compile(rb'<row\b[^>]*?\br="(\d+)"')
WIDE_REF = re.compile(rb'r="[A-Z]{3}\d')
SHEET_TAG = re.compile(rb'<(?:\w+:)?sheet\b[^>]*?\br:id="([^"]+)"')


def _first_sheet_path(archive: zipfile.ZipFile) -> str | None:
    try:
        workbook = archive.read("xl/workbook.xml")
        rels = archive.read("xl/_rels/workbook.xml.rels")
    except KeyError:
        return None
    first = SHEET_TAG.search(workbook)
    if first is None:
        return None
    rel = re.search(rb'<Relationship\b[^>]*?Id="' + re.escape(first.group(1)) + rb'"[^>]*>', rels)
    target = rel and re.search(rb'Target="([^"]+)"', rel.group(0))
    if not target:
        return None
    path = target.group(1).decode()
    return path.lstrip("/") if path.startswith("/") else f"xl/{path}"


def _wide_cell(window: bytes) -> bool:
    for found in WIDE_REF.finditer(window):
        start = window.rfind(b"<", 0, found.start())
        if start >= 0 and WIDE_CELL.match(window, start):
            return True
    return False


def _sheet_extent_check(data: bytes, filename: str) -> None:
    """calamine builds the whole cell grid in memory: one stray value in row 1,048,576
    makes it a million rows wide (about 1 GB). Read the sheet's row tags as a stream
    first and refuse such a sheet with a message saying how to fix it."""
    limit = 2 * settings.OMO_IMPORT_MAX_ROWS + BLANK_RUN_END
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        path = _first_sheet_path(archive)
        if path is None or path not in archive.namelist():
            return  # calamine reports a workbook it cannot read
        last_row = 0
        tail = b""
        with archive.open(path) as sheet:
            while chunk := sheet.read(1 << 20):
                window = tail + chunk
                if _wide_cell(window):
                    raise FileRefused(
                        f"{filename} has something in a column beyond ZZ. Delete the columns "
                        "to the right of your data and save again."
                    )
                tag = ROW_TAG if b":row" in window else PLAIN_ROW_TAG  # a namespace prefix
                numbers = tag.findall(window)
                if numbers:
                    last_row = max(last_row, max(map(int, numbers)))
                tail = window[-200:]
    if last_row > limit:
        raise FileRefused(
            f"{filename} has something in row {last_row:,}, far below the data (the limit is "
            f"{settings.OMO_IMPORT_MAX_ROWS:,} rows). Delete the rows below your data and "
            "save again."
        )


def text_decode(data: bytes) -> tuple[str, str]:
    """Decode CSV bytes: UTF-8 (BOM or not), else GBK when it reads as Chinese, else
    Windows-1252. Never guesses into garbled text: undecodable bytes are refused."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        try:
            return data.decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as error:
            raise FileRefused(
                "The file says it is UTF-8 but is not: save it again as CSV UTF-8."
            ) from error
    if b"\x00" in data[:4096]:
        raise FileRefused(
            "This file is not a spreadsheet (.xlsx) or a CSV text file "
            "(a UTF-16 CSV: save it again as CSV UTF-8)."
        )
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gbk")
    except UnicodeDecodeError:
        text = None
    if text is not None and _reads_as_chinese(text):
        return text, "gbk"
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as error:
        raise FileRefused(
            "The file's text encoding could not be recognised (tried UTF-8, GBK and "
            "Windows-1252). Save it again as CSV UTF-8."
        ) from error
    return text, "cp1252"


def _reads_as_chinese(text: str) -> bool:
    """GBK decodes most Western bytes too; real Chinese text has its non-ASCII
    characters in the CJK ranges, encoded in the GB2312 core (both bytes >= 0xA1)."""
    non_ascii = [ch for ch in text if ord(ch) > 127]
    if not non_ascii:
        return False
    core = 0
    for ch in non_ascii:
        encoded = ch.encode("gbk")
        if len(encoded) == 2 and encoded[0] >= 0xA1 and encoded[1] >= 0xA1:
            core += 1
    return core / len(non_ascii) > 0.9


def _looks_binary(text: str) -> bool:
    sample = text[:4096]
    if not sample:
        return False
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\r\n\t")
    return controls / len(sample) > 0.01


def _read_csv(data: bytes, filename: str) -> Table:
    text, encoding = text_decode(data)
    if _looks_binary(text):
        raise FileRefused(f"{filename} is not a spreadsheet: upload an .xlsx or .csv file.")
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    if first_line.count(delimiter) == 0:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _table_from(_csv_rows(reader), "csv", encoding=encoding, delimiter=delimiter)
    except csv.Error as error:
        raise FileRefused(f"{filename} is not a readable CSV file ({error}).") from error


def _csv_rows(reader):
    """csv.reader's records; its line_num counts physical lines, but the row number the
    user sees is the record index (a quoted cell may span lines)."""
    yield from reader
