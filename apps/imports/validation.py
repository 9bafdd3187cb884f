"""Set-based validation: every row of a file checked against the catalog and stock in a
few queries, never one query per row. The outcome (`Preview`) says what each row will
do and holds everything the apply step writes, so preview and apply cannot disagree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from apps.catalog.bulk import CatalogBulkPlan, ProductInput, VariantInput, catalog_bulk_plan
from apps.catalog.models import Barcode, Product, Variant
from apps.inventory.models import StockLevel
from apps.stores.models import Location
from apps.stores.selectors import location_list_managed

from . import cells
from .cells import CellError
from .errors import FileRefused
from .formats import Row

CHUNK = 4000
SAMPLE_SIZE = 5


@dataclass
class RowError:
    row: int
    column: str
    value: str
    message: str

    def as_dict(self) -> dict:
        # Stored on the job (PostgreSQL refuses NUL in text and JSON) and shown on screen.
        return {
            "row": self.row,
            "column": cells.printable(self.column),
            "value": cells.printable(self.value),
            "message": cells.printable(self.message),
        }


def controls_mark(row: Row, errors: list[RowError]) -> bool:
    """A row error for each cell holding a control character other than a line break
    or tab; True when the row has none (its cells can be read further)."""
    clean = True
    for column, value in row.values.items():
        ch = cells.control_character(value)
        if ch is not None:
            name = row.columns.get(column, column)
            errors.append(RowError(row.number, name, value, cells.control_message(column, ch)))
            clean = False
    return clean


@dataclass
class StockDiff:
    row: int
    sku: str
    location_id: int
    delta: int


@dataclass
class Preview:
    kind: str
    rows_total: int
    outcome: dict[int, str] = field(default_factory=dict)  # row -> create/update/unchanged
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    catalog_plan: CatalogBulkPlan | None = None
    stock: list[StockDiff] = field(default_factory=list)
    skus: dict[int, str] = field(default_factory=dict)  # row -> sku, for samples

    @property
    def invalid_rows(self) -> set[int]:
        return {error.row for error in self.errors}

    def counts(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "unchanged": 0, "invalid": len(self.invalid_rows)}
        for outcome in self.outcome.values():
            counts[outcome] += 1
        return counts

    def samples(self) -> dict[str, list[str]]:
        samples: dict[str, list[str]] = {"create": [], "update": [], "unchanged": []}
        for row, outcome in sorted(self.outcome.items()):
            if len(samples[outcome]) < SAMPLE_SIZE:
                samples[outcome].append(f"row {row}: {self.skus.get(row, '')}")
        return samples


def _chunks(items, size=CHUNK):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def locations_for(codes: set[str], actor) -> tuple[dict[str, Location], set[str]]:
    """(code -> location for the codes that exist, codes the actor may manage)."""
    found = {loc.code: loc for loc in Location.objects.filter(code__in=codes)}
    if actor is None:  # the command line acts as the system, like HQ
        return found, set(found)
    managed = set(
        location_list_managed(actor).filter(code__in=codes).values_list("code", flat=True)
    )
    return found, managed


def levels_read(keys: set[tuple[int, int]]) -> dict[tuple[int, int], tuple[int, int]]:
    """(location_id, variant_id) -> (on_hand, reserved) for the levels that exist."""
    by_location: dict[int, list[int]] = defaultdict(list)
    for location_id, variant_id in keys:
        by_location[location_id].append(variant_id)
    levels = {}
    for location_id, variant_ids in by_location.items():
        for chunk in _chunks(variant_ids):
            for variant_id, on_hand, reserved in StockLevel.objects.filter(
                location_id=location_id, variant_id__in=chunk
            ).values_list("variant_id", "on_hand", "reserved"):
                levels[(location_id, variant_id)] = (on_hand, reserved)
    return levels


def variants_known(skus) -> dict[str, tuple[int, str]]:
    known = {}
    for chunk in _chunks(skus):
        for sku, pk, tracking in Variant.objects.filter(sku__in=chunk).values_list(
            "sku", "id", "tracking"
        ):
            known[sku] = (pk, tracking)
    return known


def duplicates_mark(rows: list[Row], key, column: str, what: str, errors: list[RowError]) -> None:
    by_value: dict = defaultdict(list)
    for row in rows:
        value = key(row)
        if value:
            by_value[value].append(row)
    for value, group in by_value.items():
        if len(group) > 1:
            numbers = ", ".join(str(r.number) for r in group)
            for row in group:
                errors.append(
                    RowError(
                        row.number,
                        row.columns.get(column, column),
                        row.values.get(column, ""),
                        f"{what} `{value if isinstance(value, str) else value[0]}` appears "
                        f"on rows {numbers}: each may appear once",
                    )
                )


def catalog_preview(rows: list[Row], *, actor, kind: str = "catalog") -> Preview:
    preview = Preview(kind=kind, rows_total=len(rows))
    errors = preview.errors

    def error(row: Row, column: str, message: str) -> None:
        errors.append(
            RowError(
                row.number, row.columns.get(column, column), row.values.get(column, ""), message
            )
        )

    location_columns = {key for key in set().union(*(row.values for row in rows)) if "@" in key}
    codes = {key.split("@", 1)[1] for key in location_columns}
    locations, managed = locations_for(codes, actor)
    unknown = sorted(codes - set(locations))
    if unknown:
        raise FileRefused(
            "Unknown location code(s) in the header: "
            + ", ".join(f"`{code}`" for code in unknown)
            + ". Use the codes shown on the Stores page."
        )
    parsed: dict[int, dict] = {}
    for row in rows:
        if not controls_mark(row, errors):
            continue
        v = row.values
        out: dict = {"values": {}, "prices": {}, "stock": {}}
        ok = True
        sku = v.get("sku", "")
        try:
            if not sku:
                raise CellError("sku is required")
            out["sku"] = cells.code_text(sku, "sku")
        except CellError as e:
            error(row, "sku", str(e))
            ok = False
        handle = v.get("product_handle", "")
        if not handle:
            error(row, "product_handle", "product_handle is required")
            ok = False
        elif not cells.HANDLE.match(handle) or len(handle) > 255:
            error(
                row,
                "product_handle",
                f"product_handle `{handle}` may only contain letters, digits, - and _",
            )
            ok = False
        out["handle"] = handle
        for column in ("price", "compare_at_price", "cost"):
            text = v.get(column)
            if text is None:
                continue
            try:
                if text == "":
                    if column != "price":
                        out["values"][column] = None
                else:
                    out["values"][column] = cells.money(text, column)
            except CellError as e:
                error(row, column, str(e))
                ok = False
        for i in (1, 2, 3):
            for part in ("name", "value"):
                column = f"option{i}_{part}"
                if column in v:
                    limit = 60 if part == "name" else 120
                    if len(v[column]) > limit:
                        error(row, column, f"{column} is longer than {limit} characters")
                        ok = False
                    out["values"][column] = v[column]
        if v.get("active"):
            try:
                out["values"]["active"] = cells.boolean(v["active"], "active")
            except CellError as e:
                error(row, "active", str(e))
                ok = False
        if v.get("tracking"):
            tracking = v["tracking"].strip().lower()
            if tracking not in Variant.Tracking.values:
                error(row, "tracking", f"tracking `{v['tracking']}` is not none, lot or serial")
                ok = False
            out["values"]["tracking"] = tracking
        if "barcode" in v:
            codes_in_row = [c.strip() for c in v["barcode"].split("|") if c.strip()]
            try:
                out["barcodes"] = [cells.code_text(c, "barcode") for c in codes_in_row]
            except CellError as e:
                error(row, "barcode", str(e))
                ok = False
            if len(set(codes_in_row)) != len(codes_in_row):
                error(row, "barcode", "the same barcode is listed twice")
                ok = False
        product: dict = {}
        for column, key in (
            ("product_name", "name"),
            ("brand", "brand"),
            ("description", "description"),
        ):
            if v.get(column):
                limit = {"name": 255, "brand": 120}.get(key)
                if limit and len(v[column]) > limit:
                    error(row, column, f"{column} is longer than {limit} characters")
                    ok = False
                product[key] = v[column]
        if v.get("category"):
            try:
                product["category_path"] = cells.category_path(v["category"])
            except CellError as e:
                error(row, "category", str(e))
                ok = False
        out["product"] = product
        for key in location_columns:
            text = v.get(key, "")
            prefix, code = key.split("@", 1)
            if text == "" and prefix == "stock":
                continue
            if code not in managed:
                error(row, key, f"you may not change {prefix} at location {code}")
                ok = False
                continue
            try:
                if prefix == "price":
                    out["prices"][locations[code].pk] = cells.money(text, key) if text else None
                else:
                    counted = cells.whole_number(text, key)
                    if counted < 0:
                        raise CellError(f"{key} `{text}` is negative: count what is on the shelf")
                    out["stock"][key] = (locations[code].pk, counted)
            except CellError as e:
                error(row, key, str(e))
                ok = False
        if ok:
            parsed[row.number] = out

    by_number = {row.number: row for row in rows}
    # Over every row that names a sku, not only the valid ones: otherwise a row whose
    # twin has another error would be written as if it were the only one.
    duplicates_mark(rows, lambda r: r.values.get("sku", ""), "sku", "sku", errors)
    barcode_rows: dict[str, set[str]] = defaultdict(set)
    for out in parsed.values():
        for code in out.get("barcodes") or []:
            barcode_rows[code].add(out["sku"])
    for number, out in parsed.items():
        for code in out.get("barcodes") or []:
            if len(barcode_rows[code]) > 1:
                others = ", ".join(sorted(barcode_rows[code] - {out["sku"]}))
                error(
                    by_number[number],
                    "barcode",
                    f"barcode `{code}` is also given to sku {others} in this file",
                )
    # Barcodes that belong to a variant not in this file (or kept by it).
    file_barcodes = {sku: out.get("barcodes") for out in parsed.values() for sku in [out["sku"]]}
    owners: dict[str, str] = {}
    for chunk in _chunks(barcode_rows):
        owners.update(Barcode.objects.filter(code__in=chunk).values_list("code", "variant__sku"))
    for number, out in parsed.items():
        for code in out.get("barcodes") or []:
            owner = owners.get(code)
            if owner and owner != out["sku"]:
                kept = file_barcodes.get(owner)
                if owner not in file_barcodes or kept is None or code in kept:
                    error(
                        by_number[number],
                        "barcode",
                        f"barcode `{code}` already belongs to sku {owner}",
                    )

    known = variants_known({out["sku"] for out in parsed.values()})
    bad = preview.invalid_rows
    # Product fields from each product's rows whose cells read correctly (a row refused
    # only as a duplicate still names its product): the first non-blank value wins.
    products: dict[str, ProductInput] = {}
    for out in parsed.values():
        product = products.setdefault(out["handle"], ProductInput(handle=out["handle"]))
        for key, value in out["product"].items():
            product.values.setdefault(key, value)
    existing_handles = set()
    for chunk in _chunks(products):
        existing_handles.update(
            Product.objects.filter(handle__in=chunk).values_list("handle", flat=True)
        )
    levels = levels_read(
        {
            (loc, known[out["sku"]][0])
            for out in parsed.values()
            if out["sku"] in known
            for loc, _ in out["stock"].values()
        }
    )
    stock_by_row: dict[int, list[StockDiff]] = {}
    for number, out in parsed.items():
        if number in bad:
            continue
        row = by_number[number]
        variant = known.get(out["sku"])
        if variant is None and "price" not in out["values"]:
            error(row, "price", "price is required for a new sku")
        if out["handle"] not in existing_handles and "name" not in products[out["handle"]].values:
            error(
                row,
                "product_name",
                f"product_name is required for the new product `{out['handle']}`",
            )
        tracking = out["values"].get("tracking") or (variant[1] if variant else "none")
        diffs = []
        for key, (location_id, counted) in out["stock"].items():
            if tracking != "none":
                error(
                    row,
                    key,
                    f"stock of a {tracking}-tracked sku cannot be imported from the catalog "
                    "template: count it on the Stock screens",
                )
                continue
            on_hand, reserved = levels.get((location_id, variant[0]), (0, 0)) if variant else (0, 0)
            if counted < reserved:
                error(
                    row,
                    key,
                    f"{key} `{counted}` is below the {reserved} already reserved for orders",
                )
                continue
            if counted != on_hand:
                diffs.append(StockDiff(number, out["sku"], location_id, counted - on_hand))
        stock_by_row[number] = diffs

    bad = preview.invalid_rows
    variants = []
    for number, out in parsed.items():
        if number in bad:
            continue
        variants.append(
            VariantInput(
                sku=out["sku"],
                handle=out["handle"],
                values=out["values"],
                barcodes=out.get("barcodes"),
                location_prices=out["prices"],
            )
        )
        preview.skus[number] = out["sku"]
    used = {v.handle for v in variants}
    plan = catalog_bulk_plan(
        products={h: p for h, p in products.items() if h in used}, variants=variants
    )
    preview.catalog_plan = plan
    for number in preview.skus:
        outcome = plan.outcome[parsed[number]["sku"]]
        if outcome == "unchanged" and stock_by_row.get(number):
            outcome = "update"
        preview.outcome[number] = outcome
        preview.stock += stock_by_row.get(number, [])
    preview.errors.sort(key=lambda e: e.row)
    return preview
