"""Which format a file is in (from its header), and Shopify rows as catalog rows.

Every format ends as catalog-template rows (dicts keyed by template column) or stock
rows, each remembering the user's own column names so errors name what they see.
"""

from __future__ import annotations

from operator import attrgetter, itemgetter

from .errors import FileRefused
from .parsers import Table

CATALOG_COLUMNS = [
    "sku",
    "product_handle",
    "product_name",
    "price",
    "barcode",
    "category",
    "brand",
    "description",
    "option1_name",
    "option1_value",
    "option2_name",
    "option2_value",
    "option3_name",
    "option3_value",
    "compare_at_price",
    "cost",
    "active",
    "tracking",
]
CATALOG_REQUIRED = ["sku", "product_handle"]
STOCK_COLUMNS = ["sku", "location", "on_hand", "delta", "lot", "expires_on", "serials"]
STOCK_REQUIRED = ["sku", "location"]
# The error file's own column: importing a corrected error file must not warn about it.
IGNORED_COLUMNS = {"errors"}

SHOPIFY_LEGACY = {
    "Handle": "product_handle",
    "Title": "product_name",
    "Body (HTML)": "description",
    "Vendor": "brand",
    "Product Category": "category",
    "Option1 Name": "option1_name",
    "Option1 Value": "option1_value",
    "Option2 Name": "option2_name",
    "Option2 Value": "option2_value",
    "Option3 Name": "option3_name",
    "Option3 Value": "option3_value",
    "Variant SKU": "sku",
    "Variant Inventory Qty": "stock",
    "Variant Price": "price",
    "Variant Compare At Price": "compare_at_price",
    "Variant Barcode": "barcode",
    "Cost per item": "cost",
    "Status": "status",
    "Image Src": "image",
}
SHOPIFY_CURRENT = {
    "URL handle": "product_handle",
    "Title": "product_name",
    "Description": "description",
    "Vendor": "brand",
    "Product category": "category",
    "Option1 name": "option1_name",
    "Option1 value": "option1_value",
    "Option2 name": "option2_name",
    "Option2 value": "option2_value",
    "Option3 name": "option3_name",
    "Option3 value": "option3_value",
    "SKU": "sku",
    "Inventory quantity": "stock",
    "Price": "price",
    "Compare-at price": "compare_at_price",
    "Barcode": "barcode",
    "Cost per item": "cost",
    "Status": "status",
    "Product image URL": "image",
}
SHOPIFY_PRODUCT_FIELDS = ("product_name", "description", "brand", "category", "status")


class Row:
    """One spreadsheet row as template columns. Rows read from a file look their values
    up in the file's own cells (no dict per row: 100,000 of them weighed ~65 MB);
    rows rewritten from another format (Shopify) carry their own `values`."""

    __slots__ = ("_index", "_pick", "_values", "columns", "number", "raw")

    def __init__(
        self,
        *,
        number: int,
        raw: list[str],
        columns: dict[str, str],  # template column -> the user's column name
        values: dict[str, str] | None = None,
        index: dict[str, int] | None = None,  # template column -> position in raw
        pick=None,  # (index's keys, a function of raw giving their cells): rows_map's
    ) -> None:
        self.number = number
        self.raw = raw
        self.columns = columns
        self._values = values
        self._index = index
        self._pick = pick

    @property
    def values(self) -> dict[str, str]:
        """template column -> text (a new dict for a row read from a file)."""
        if self._values is not None:
            return self._values
        raw = self.raw
        if self._pick is not None:
            keys, cells_of = self._pick
            return dict(zip(keys, cells_of(raw), strict=True))
        return {key: raw[position] for key, position in self._index.items()}

    def get(self, key: str, default: str = "") -> str:
        if self._values is not None:
            return self._values.get(key, default)
        position = self._index.get(key)
        return default if position is None else self.raw[position]

    def __contains__(self, key: str) -> bool:
        return key in (self._values if self._values is not None else self._index)


def columns_present(rows: list[Row]) -> set[str]:
    """Every template column at least one of the rows has (rows read from one file
    share their columns: one look at each distinct set)."""
    present: set[str] = set()
    seen: set[int] = set()
    for row in rows:
        keys = row._values if row._values is not None else row._index
        if id(keys) not in seen:
            seen.add(id(keys))
            present.update(keys)
    return present


def columns_of(rows: list[Row], keys) -> dict[str, list[str | None]]:
    """key -> each row's cell in that template column (None for a row without it).
    Rows read from one file share their columns: then one C pass per column."""
    if not rows:
        return {key: [] for key in keys}
    index = rows[0]._index
    if index is None or len(set(map(id, map(attrgetter("_index"), rows)))) != 1:
        values = [row.values for row in rows]
        return {key: [row_values.get(key) for row_values in values] for key in keys}
    raws = list(map(attrgetter("raw"), rows))
    if len(set(map(len, raws))) == 1:
        # Rows read from one file are as wide as its header: one pass over the rows
        # turns all of them into columns (a pass per column touched every row again).
        by_position = list(zip(*raws, strict=True))
        return {
            key: [None] * len(rows) if index.get(key) is None else list(by_position[index[key]])
            for key in keys
        }
    return {
        key: [None] * len(rows)
        if index.get(key) is None
        else list(map(itemgetter(index[key]), raws))
        for key in keys
    }


def format_detect(header: list[str]) -> str:
    """ "catalog", "stock", "shopify_legacy", "shopify_current" or FileRefused."""
    names = set(header)
    lowered = {name.strip().lower() for name in header}
    if {"Handle", "Variant SKU"} <= names:
        return "shopify_legacy"
    if {"URL handle", "SKU"} <= names:
        return "shopify_current"
    if "product_handle" in lowered:
        return "catalog"
    if "location" in lowered and ({"on_hand", "delta"} & lowered):
        return "stock"
    raise FileRefused(
        "Unknown format: the header row matches neither the catalog template "
        "(sku, product_handle, ...), the stock sheet (sku, location, on_hand or delta) "
        "nor a Shopify product CSV. Download a template from the Imports page."
    )


def kind_of(file_format: str) -> str:
    return "shopify" if file_format.startswith("shopify") else file_format


def _location_column(name: str, prefix: str) -> str | None:
    if name.lower().startswith(prefix):
        return name[len(prefix) :].strip().upper()
    return None


def header_map(table: Table, file_format: str) -> tuple[dict[int, str], list[str], list[str]]:
    """(column index -> template column, missing required columns, unknown columns)."""
    mapping: dict[int, str] = {}
    unknown: list[str] = []
    if file_format.startswith("shopify"):
        names = SHOPIFY_LEGACY if file_format == "shopify_legacy" else SHOPIFY_CURRENT
        for index, name in enumerate(table.header):
            if name in names:
                mapping[index] = names[name]
        # Shopify exports carry dozens of columns OMO has no use for (SEO, Google
        # Shopping, tax); they are expected, so no warning for each.
        missing = [name for name, key in names.items() if key in ("sku", "product_handle")]
        missing = [name for name in missing if name not in table.header]
        return mapping, missing, unknown
    known = CATALOG_COLUMNS if file_format == "catalog" else STOCK_COLUMNS
    required = CATALOG_REQUIRED if file_format == "catalog" else STOCK_REQUIRED
    seen: set[str] = set()
    for index, name in enumerate(table.header):
        key = name.strip().lower()
        if not key:
            continue
        if file_format == "catalog" and (
            _location_column(name, "price@") is not None
            or _location_column(name, "stock@") is not None
        ):
            mapping[index] = key.split("@")[0] + "@" + name.split("@", 1)[1].strip().upper()
        elif key in known:
            if key in seen:
                raise FileRefused(f"The column `{name}` appears twice in the header.")
            mapping[index] = key
        elif key not in IGNORED_COLUMNS:
            unknown.append(name)
        seen.add(key)
    missing = [name for name in required if name not in seen]
    if file_format == "stock" and not ({"on_hand", "delta"} & seen):
        missing.append("on_hand or delta")
    return mapping, missing, unknown


def rows_map(table: Table, mapping: dict[int, str]) -> list[Row]:
    columns = {key: table.header[index] for index, key in mapping.items()}
    index = {key: position for position, key in mapping.items()}
    # One C call per row builds its values dict (Row.values), not a comprehension.
    positions = list(index.values())
    if len(positions) > 1:
        cells_of = itemgetter(*positions)
    else:  # itemgetter of one position gives the cell itself, not a tuple

        def cells_of(raw):
            return tuple(raw[position] for position in positions)

    pick = (tuple(index), cells_of)
    return [
        Row(number=number, raw=raw, columns=columns, index=index, pick=pick)
        for number, raw in table.rows
    ]


def shopify_rows(rows: list[Row], location_code: str | None) -> list[Row]:
    """Shopify rows as catalog rows: product fields carried from each product's first
    row, image-only rows dropped, "Default Title" options dropped, Status draft or
    archived as inactive, the inventory quantity as stock at the chosen location."""
    out: list[Row] = []
    product_values: dict[str, dict[str, str]] = {}
    for row in rows:
        values = dict(row.values)
        handle = values.get("product_handle", "")
        first = product_values.setdefault(handle, {})
        for key in SHOPIFY_PRODUCT_FIELDS:
            if values.get(key):
                first.setdefault(key, values[key])
        option_values = [values.get(f"option{i}_value", "") for i in (1, 2, 3)]
        if not values.get("sku") and not any(option_values):
            continue  # an image row
        for key in SHOPIFY_PRODUCT_FIELDS:
            if not values.get(key) and key in first:
                values[key] = first[key]
        if values.get("option1_value") == "Default Title":
            for i in (1, 2, 3):
                values[f"option{i}_name"] = ""
                values[f"option{i}_value"] = ""
        status = values.pop("status", "").strip().lower()
        values["active"] = "false" if status in ("draft", "archived") else "true"
        stock = values.pop("stock", "")
        values.pop("image", None)
        columns = dict(row.columns)
        if location_code and stock != "":
            values[f"stock@{location_code}"] = stock
            columns[f"stock@{location_code}"] = columns.get("stock", "Inventory quantity")
        out.append(Row(number=row.number, values=values, columns=columns, raw=row.raw))
    return out
