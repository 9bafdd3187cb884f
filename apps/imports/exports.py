"""Files the user downloads: exports, empty templates and the error file."""

from __future__ import annotations

import csv
import io
from pathlib import PurePath

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from openpyxl import Workbook

from apps.stores.selectors import location_list_managed, location_list_visible

from .cells import printable
from .formats import CATALOG_COLUMNS, STOCK_COLUMNS
from .resources import CatalogResource, StockResource, formula_escape

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def rows_write(header: list[str], rows, file_type: str) -> bytes:
    """A csv (UTF-8 with BOM, which Excel opens correctly) or an xlsx, all text cells."""
    if file_type == "xlsx":
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("Sheet1")
        # openpyxl refuses control characters; the csv keeps the user's cells as given.
        sheet.append([printable(cell) for cell in header])
        for row in rows:
            sheet.append([printable(formula_escape(cell)) for cell in row])
        buffer = io.BytesIO()
        workbook.save(buffer)
        return buffer.getvalue()
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([formula_escape(cell) for cell in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def catalog_export(*, actor, file_type: str = "csv") -> bytes:
    """Every variant in the catalog template, with price@ and stock@ columns for the
    locations the actor may see."""
    locations = location_list_visible(actor) if actor is not None else []
    resource = CatalogResource(locations=locations)
    dataset = resource.export()
    return rows_write(list(dataset.headers), (list(row) for row in dataset), file_type)


def stock_export(*, actor, file_type: str = "csv") -> bytes:
    """The stock sheet for the locations the actor manages."""
    queryset = (
        StockResource()
        .get_queryset()
        .select_related("variant", "location")
        .filter(location__in=location_list_managed(actor))
        .order_by("location__code", "variant__sku")
    )
    dataset = StockResource().export(queryset)
    return rows_write(list(dataset.headers), (list(row) for row in dataset), file_type)


def template_file(kind: str, file_type: str = "csv") -> bytes:
    if kind == "stock":
        header = ["sku", "location", "on_hand", "delta"]
        example = [["TSHIRT-GRN-M", "S01", "12", ""]]
    else:
        header = [*CATALOG_COLUMNS, "price@S01", "stock@S01"]
        example = []
    assert set(header) - {"price@S01", "stock@S01"} <= set(CATALOG_COLUMNS) | set(STOCK_COLUMNS)
    return rows_write(header, example, file_type)


def error_file_write(job, table, errors) -> str:
    """The file's bad rows as uploaded, plus an `errors` column, in the upload's type."""
    messages: dict[int, list[str]] = {}
    for error in errors:
        messages.setdefault(error.row, []).append(f"{error.column}: {error.message}")
    header = [*table.header, "errors"]
    if "errors" in [h.lower() for h in table.header]:
        index = [h.lower() for h in table.header].index("errors")
        header = table.header
    else:
        index = None
    rows = []
    for number, raw in table.rows:
        if number in messages:
            text = "; ".join(messages[number])
            if index is None:
                rows.append([*raw, text])
            else:
                rows.append([*raw[:index], text, *raw[index + 1 :]])
    data = rows_write(header, rows, table.file_type)
    stem = PurePath(job.original_filename).stem
    path = f"{PurePath(job.file).parent}/{stem}-errors.{table.file_type}"
    if default_storage.exists(path):
        default_storage.delete(path)
    return default_storage.save(path, ContentFile(data))
