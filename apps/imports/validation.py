"""Set-based validation: every row of a file checked against the catalog and stock in a
few queries, never one query per row. The outcome (`Preview`) says what each row will
do and holds everything the apply step writes, so preview and apply cannot disagree.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter

from apps.catalog.bulk import (
    VARIANT_ROW,
    CatalogBulkPlan,
    ProductInput,
    VariantInput,
    barcode_pairs_existing,
    barcodes_by_variant,
    catalog_bulk_plan,
    products_existing,
    variants_existing,
)
from apps.catalog.models import Barcode, Variant
from apps.core.lookups import AnyOf, any_of_chunks, rows_read
from apps.inventory.models import StockLevel
from apps.stores.models import Location
from apps.stores.selectors import location_list_managed

from . import cells
from .cells import CellError
from .errors import FileRefused
from .formats import Row, columns_of, columns_present

CHUNK = 4000
# A whole column of handles joined by line breaks, each as cells.HANDLE allows.
HANDLES = re.compile(f"{cells.HANDLE_CHARS}+(?:\n{cells.HANDLE_CHARS}+)*")
# A price left blank: the variant's price is kept.
KEEP = object()
SAMPLE_SIZE = 5
# (on hand, reserved) where a variant has no stock level yet.
NO_LEVEL = (0, 0)
TRACKING = VARIANT_ROW.index("tracking")
# levels_read's rows: (location_id, variant_id, on_hand, reserved).
LEVEL_KEY, LEVEL_COUNTS = itemgetter(0, 1), itemgetter(2, 3)


@dataclass(slots=True)  # slots: a big file has hundreds of thousands of these
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
    values = row.values
    if cells.control_character("".join(values.values())) is None:
        return True  # one search over the whole row, the common case
    for column, value in values.items():
        ch = cells.control_character(value)
        if ch is not None:
            name = row.columns.get(column, column)
            errors.append(RowError(row.number, name, value, cells.control_message(column, ch)))
    return False


def memoized(parse):
    """parse(value, what) remembering its results: a column repeats the same prices,
    counts and categories over thousands of rows. Errors are raised again each time."""
    results: dict = {}

    def cached(value: str, what: str):
        key = (value, what)
        try:
            return results[key]
        except KeyError:
            result = results[key] = parse(value, what)
            return result

    return cached


@dataclass(slots=True)
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
    # code -> may the actor manage it, for every existing location the file names: the
    # apply checks these again before it trusts the preview (services._preview_kept).
    locations: dict[str, bool] = field(default_factory=dict)
    # What the database was when the validation began (services._preview_build).
    state: dict = field(default_factory=dict)

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


def locations_for(codes: set[str], actor) -> tuple[dict[str, Location], set[str]]:
    """(code -> location for the codes that exist, codes the actor may manage)."""
    found = {loc.code: loc for loc in Location.objects.filter(code__in=codes)}
    if actor is None:  # the command line acts as the system, like HQ
        return found, set(found)
    managed = set(
        location_list_managed(actor).filter(code__in=codes).values_list("code", flat=True)
    )
    return found, managed


def levels_read(
    variant_ids: set[int], location_ids: set[int]
) -> dict[tuple[int, int], tuple[int, int]]:
    """(location_id, variant_id) -> (on_hand, reserved) for the levels of these variants
    at these locations that exist. One query per chunk of variants for all the
    locations at once."""
    location_list = sorted(location_ids)
    levels = {}
    for chunk in any_of_chunks(sorted(variant_ids)):
        levels_of_chunk = StockLevel.objects.filter(AnyOf("variant_id", chunk))
        if len(location_list) == 1:
            levels_of_chunk = levels_of_chunk.filter(location_id=location_list[0])
        else:
            levels_of_chunk = levels_of_chunk.filter(AnyOf("location_id", location_list))
        rows = rows_read(
            levels_of_chunk.values_list("location_id", "variant_id", "on_hand", "reserved")
        )
        levels.update(zip(map(LEVEL_KEY, rows), map(LEVEL_COUNTS, rows), strict=True))
    return levels


def variants_known(skus) -> dict[str, tuple[int, str]]:
    known = {}
    for chunk in any_of_chunks(skus):
        for sku, pk, tracking in Variant.objects.filter(AnyOf("sku", chunk)).values_list(
            "sku", "id", "tracking"
        ):
            known[sku] = (pk, tracking)
    return known


def duplicates_mark(
    rows: list[Row], keys: list, column: str, what: str, errors: list[RowError]
) -> None:
    """A row error on each row whose key (keys[i] is rows[i]'s; blank keys are not
    compared) another row has too."""
    given = list(filter(None, keys))
    if len(set(given)) == len(given):
        return  # the common case, found in one C pass
    by_value: dict = {}  # value -> its row, or the list of its rows once repeated
    for row, value in zip(rows, keys, strict=True):
        if value:
            group = by_value.get(value)
            if group is None:
                by_value[value] = row
            elif isinstance(group, list):
                group.append(row)
            else:
                by_value[value] = [group, row]
    for value, group in by_value.items():
        if not isinstance(group, list):
            continue
        numbers = ", ".join(str(r.number) for r in group)
        for row in group:
            errors.append(
                RowError(
                    row.number,
                    row.columns.get(column, column),
                    row.get(column),
                    f"{what} `{value if isinstance(value, str) else value[0]}` appears "
                    f"on rows {numbers}: each may appear once",
                )
            )


@dataclass(slots=True)
class ParsedRow:
    """A catalog row whose cells all read correctly, as the plan needs it."""

    sku: str
    handle: str
    values: dict  # variant fields to set
    prices: dict  # location id -> price or None
    stock: dict  # column -> (location id, counted)
    product: dict  # product fields given on this row
    barcodes: list[str] | None = None


def catalog_preview(rows: list[Row], *, actor, kind: str = "catalog", progress=None) -> Preview:
    """`progress(rows_read)` is called after each chunk of rows read, if given."""
    preview = Preview(kind=kind, rows_total=len(rows))
    errors = preview.errors

    def error(row: Row, column: str, message: str) -> None:
        name = row.columns.get(column, column)
        errors.append(RowError(row.number, name, row.get(column), message))

    # Every row of a file shares one columns dict: gather the location columns from the
    # distinct ones, in the order of the file.
    location_columns: list[str] = []
    for columns in {id(row.columns): row.columns for row in rows}.values():
        location_columns += [key for key in columns if "@" in key and key not in location_columns]
    codes = {key.split("@", 1)[1] for key in location_columns}
    locations, managed = locations_for(codes, actor)
    unknown = sorted(codes - set(locations))
    if unknown:
        raise FileRefused(
            "Unknown location code(s) in the header: "
            + ", ".join(f"`{code}`" for code in unknown)
            + ". Use the codes shown on the Stores page."
        )
    preview.locations = {code: code in managed for code in codes}
    # Per column once: (column, price or stock, code, location id, may the actor manage it)
    location_plan = [
        (key, prefix, code, locations[code].pk, code in managed)
        for key in location_columns
        for prefix, code in [key.split("@", 1)]
    ]
    money = memoized(cells.money)
    whole_number = memoized(cells.whole_number)
    category_path = memoized(lambda value, _what: cells.category_path(value))
    boolean = memoized(cells.boolean)
    # Only the columns some row has: a row's missing columns are skipped all the same,
    # but not looked up one by one in each of 100,000 rows.
    present = columns_present(rows)
    money_columns = [c for c in ("price", "compare_at_price", "cost") if c in present]
    option_columns = [
        (column, limit)
        for i in (1, 2, 3)
        for part, limit in (("name", 60), ("value", 120))
        for column in [f"option{i}_{part}"]
        if column in present
    ]
    product_columns = [
        (column, key, limit)
        for column, key, limit in (
            ("product_name", "name", 255),
            ("brand", "brand", 120),
            ("description", "description", None),
        )
        if column in present
    ]
    with_active, with_tracking = "active" in present, "tracking" in present
    with_barcode, with_category = "barcode" in present, "category" in present
    tracking_values = set(Variant.Tracking.values)
    handle_limit = cells.HANDLE_MAX

    def chunk_read_quickly(chunk: list[Row], columns: dict) -> list[ParsedRow] | None:
        """The chunk's rows read, when checks over its whole columns (`columns`, its
        columns_of) show that no row of it has an error; None otherwise (the chunk is
        then read row by row, which reports each error). Cells are stripped text
        (parsers.cell_text)."""
        size = len(chunk)
        for values in columns.values():
            if cells.control_character("".join(filter(None, values))) is not None:
                return None
        skus, handles = columns.get("sku"), columns.get("product_handle")
        if skus is None or handles is None or not all(skus) or not all(handles):
            return None
        if not cells.codes_accepted(skus):
            return None
        joined = "\n".join(handles)
        if (
            joined.count("\n") != size - 1
            or not HANDLES.fullmatch(joined)
            or max(map(len, handles)) > handle_limit
        ):
            return None

        def read_each(values: list, parse, what: str) -> dict | None:
            """text -> parse(text, what) for the distinct non-blank texts; None when
            one of them is refused."""
            read = {}
            for text in set(values) - {None, ""}:
                try:
                    read[text] = parse(text, what)
                except CellError:
                    return None
            return read

        values_of = [{} for _ in range(size)]
        for column in money_columns:
            amounts = read_each(columns[column], money, column)
            if amounts is None:
                return None
            blank = KEEP if column == "price" else None
            for values, text in zip(values_of, columns[column], strict=True):
                if text is not None:
                    amount = amounts[text] if text else blank
                    if amount is not KEEP:
                        values[column] = amount
        for column, limit in option_columns:
            texts = columns[column]
            if max(map(len, filter(None, texts)), default=0) > limit:
                return None
            for values, text in zip(values_of, texts, strict=True):
                if text is not None:
                    values[column] = text
        if with_active:
            read = read_each(columns["active"], boolean, "active")
            if read is None:
                return None
            for values, text in zip(values_of, columns["active"], strict=True):
                if text:
                    values["active"] = read[text]
        if with_tracking:
            texts = columns["tracking"]
            read = {text: text.strip().lower() for text in set(texts) - {None, ""}}
            if not set(read.values()) <= tracking_values:
                return None
            for values, text in zip(values_of, texts, strict=True):
                if text:
                    values["tracking"] = read[text]
        barcodes_of = [None] * size
        if with_barcode:
            texts = columns["barcode"]
            codes = list(filter(None, texts))
            if "|" in "".join(codes) or not cells.codes_accepted(codes):
                return None
            barcodes_of = [None if text is None else [text] if text else [] for text in texts]
        products_of = [{} for _ in range(size)]
        for column, key, limit in product_columns:
            texts = columns[column]
            if limit and max(map(len, filter(None, texts)), default=0) > limit:
                return None
            for product, text in zip(products_of, texts, strict=True):
                if text:
                    product[key] = text
        if with_category:
            read = read_each(columns["category"], category_path, "category")
            if read is None:
                return None
            for product, text in zip(products_of, columns["category"], strict=True):
                if text:
                    product["category_path"] = read[text]
        prices_of = [{} for _ in range(size)]
        stock_of = [{} for _ in range(size)]
        for key, prefix, _code, location_id, may_manage in location_plan:
            texts = columns.get(key) or [""] * size
            if prefix == "price":
                read = read_each(texts, money, key)
                if not may_manage or read is None:
                    return None
                for prices, text in zip(prices_of, texts, strict=True):
                    prices[location_id] = read[text] if text else None
                continue
            read = read_each(texts, whole_number, key)
            if read is None or (read and not may_manage) or any(n < 0 for n in read.values()):
                return None
            for stock, text in zip(stock_of, texts, strict=True):
                if text:
                    stock[key] = (location_id, read[text])
        return list(
            map(
                ParsedRow,
                skus,
                handles,
                values_of,
                prices_of,
                stock_of,
                products_of,
                barcodes_of,
            )
        )

    def row_read(row: Row) -> ParsedRow | None:
        v = row.values
        if cells.control_character("".join(v.values())) is not None:
            controls_mark(row, errors)
            return None
        ok = True
        sku = v.get("sku", "")
        try:
            if not sku:
                raise CellError("sku is required")
            cells.code_text(sku, "sku")
        except CellError as e:
            error(row, "sku", str(e))
            ok = False
        handle = v.get("product_handle", "")
        if not handle:
            error(row, "product_handle", "product_handle is required")
            ok = False
        elif not cells.HANDLE.match(handle) or len(handle) > cells.HANDLE_MAX:
            error(
                row,
                "product_handle",
                f"product_handle `{handle}` may only contain letters, digits, - and _",
            )
            ok = False
        out = ParsedRow(sku=sku, handle=handle, values={}, prices={}, stock={}, product={})
        values = out.values
        for column in money_columns:
            text = v.get(column)
            if text is None:
                continue
            try:
                if text == "":
                    if column != "price":
                        values[column] = None
                else:
                    values[column] = money(text, column)
            except CellError as e:
                error(row, column, str(e))
                ok = False
        for column, limit in option_columns:
            text = v.get(column)
            if text is not None:
                if len(text) > limit:
                    error(row, column, f"{column} is longer than {limit} characters")
                    ok = False
                values[column] = text
        if with_active and v.get("active"):
            try:
                values["active"] = boolean(v["active"], "active")
            except CellError as e:
                error(row, "active", str(e))
                ok = False
        if with_tracking and v.get("tracking"):
            tracking = v["tracking"].strip().lower()
            if tracking not in tracking_values:
                error(row, "tracking", f"tracking `{v['tracking']}` is not none, lot or serial")
                ok = False
            values["tracking"] = tracking
        if with_barcode and "barcode" in v:
            codes_in_row = [c.strip() for c in v["barcode"].split("|") if c.strip()]
            try:
                out.barcodes = [cells.code_text(c, "barcode") for c in codes_in_row]
            except CellError as e:
                error(row, "barcode", str(e))
                ok = False
            if len(set(codes_in_row)) != len(codes_in_row):
                error(row, "barcode", "the same barcode is listed twice")
                ok = False
        product = out.product
        for column, key, limit in product_columns:
            text = v.get(column)
            if text:
                if limit and len(text) > limit:
                    error(row, column, f"{column} is longer than {limit} characters")
                    ok = False
                product[key] = text
        if with_category and v.get("category"):
            try:
                product["category_path"] = category_path(v["category"], "category")
            except CellError as e:
                error(row, "category", str(e))
                ok = False
        for key, prefix, code, location_id, may_manage in location_plan:
            text = v.get(key, "")
            if text == "" and prefix == "stock":
                continue
            if not may_manage:
                error(row, key, f"you may not change {prefix} at location {code}")
                ok = False
                continue
            try:
                if prefix == "price":
                    out.prices[location_id] = money(text, key) if text else None
                else:
                    counted = whole_number(text, key)
                    if counted < 0:
                        raise CellError(f"{key} `{text}` is negative: count what is on the shelf")
                    out.stock[key] = (location_id, counted)
            except CellError as e:
                error(row, key, str(e))
                ok = False
        return out if ok else None

    parsed: dict[int, ParsedRow] = {}
    file_skus: list[str | None] = []  # each row's sku cell, for the duplicate check
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        columns = columns_of(chunk, present)
        file_skus += columns["sku"] if "sku" in columns else [None] * len(chunk)
        quick = chunk_read_quickly(chunk, columns)
        if quick is not None:
            parsed.update(zip([row.number for row in chunk], quick, strict=True))
        else:
            for row in chunk:
                out = row_read(row)
                if out is not None:
                    parsed[row.number] = out
        done = start + len(chunk)
        if progress is not None and done % CHUNK == 0:
            progress(done)

    by_number = {row.number: row for row in rows}
    # Over every row that names a sku, not only the valid ones: otherwise a row whose
    # twin has another error would be written as if it were the only one.
    duplicates_mark(rows, file_skus, "sku", "sku", errors)
    # code -> the skus listing it; a code listed once (nearly always) has one sku, kept as
    # itself instead of a set of one.
    listed = [(code, out.sku) for out in parsed.values() for code in out.barcodes or ()]
    barcode_rows: dict[str, str | set[str]] = dict(listed)
    listed_twice = len(listed) != len(barcode_rows)
    if listed_twice:
        barcode_rows = defaultdict(set)
        for code, sku in listed:
            barcode_rows[code].add(sku)
    # A row lists a barcode once: no two skus share one when no code is given twice.
    for number, out in parsed.items() if listed_twice else ():
        for code in out.barcodes or ():
            if len(barcode_rows[code]) > 1:
                others = ", ".join(sorted(barcode_rows[code] - {out.sku}))
                error(
                    by_number[number],
                    "barcode",
                    f"barcode `{code}` is also given to sku {others} in this file",
                )
    # The file's variants as they are, with their barcodes, read once for these checks
    # and for the plan.
    existing = variants_existing({out.sku for out in parsed.values()})
    known = {sku: (row[0], row[TRACKING]) for sku, row in existing.items()}
    sku_of = {row[0]: sku for sku, row in existing.items()}
    pairs = barcode_pairs_existing(sku_of)
    existing_barcodes = barcodes_by_variant(pairs)
    # Barcodes that belong to a variant not in this file (or kept by it). Most of a
    # file's barcodes are its own variants' (read above); only the others are looked up.
    file_barcodes = {out.sku: out.barcodes for out in parsed.values()}
    if listed_twice:
        owned = [(variant_id, code) for variant_id, code in pairs if code in barcode_rows]
    else:
        # Only the codes a variant of the file has and another sku of the file lists
        # can be in error: the pairs (variant, code) the file does not list itself, in
        # C over sets (a re-import lists exactly those it has).
        id_of = {sku: row[0] for sku, row in existing.items()}
        mine = set(
            zip(
                map(id_of.get, map(itemgetter(1), listed)),
                map(itemgetter(0), listed),
                strict=True,
            )
        )
        owned = [pair for pair in set(pairs) - mine if pair[1] in barcode_rows]
    owners = {code: sku_of[variant_id] for variant_id, code in owned}
    known_codes = set(map(itemgetter(1), pairs))
    owner_ids: dict[str, int] = {}
    for chunk in any_of_chunks(code for code in barcode_rows if code not in known_codes):
        owner_ids.update(
            Barcode.objects.filter(AnyOf("code", chunk)).values_list("code", "variant_id")
        )
    others = sorted(set(owner_ids.values()) - set(sku_of))
    for chunk in any_of_chunks(others):
        sku_of.update(Variant.objects.filter(AnyOf("id", chunk)).values_list("id", "sku"))
    owners.update((code, sku_of[variant_id]) for code, variant_id in owner_ids.items())
    for number, out in parsed.items() if owners else ():
        for code in out.barcodes or ():
            owner = owners.get(code)
            if owner and owner != out.sku:
                kept = file_barcodes.get(owner)
                if owner not in file_barcodes or kept is None or code in kept:
                    error(
                        by_number[number],
                        "barcode",
                        f"barcode `{code}` already belongs to sku {owner}",
                    )

    bad = preview.invalid_rows
    # Product fields from each product's rows whose cells read correctly (a row refused
    # only as a duplicate still names its product): the first non-blank value wins.
    products: dict[str, ProductInput] = {}
    for out in parsed.values():
        product = products.get(out.handle)
        if product is None:
            products[out.handle] = ProductInput(out.handle, dict(out.product))
        elif out.product:
            setdefault = product.values.setdefault
            for key, value in out.product.items():
                setdefault(key, value)
    existing_products = products_existing(products)
    stock_by_row: dict[int, list[StockDiff]] = {}
    # A chunk of rows at a time, so only that chunk's stock levels are held (a 100k-row
    # file with 3 stock columns has 300k levels).
    checked = [(number, out) for number, out in parsed.items() if number not in bad]
    stock_locations = {
        location_id for _, prefix, _, location_id, _ in location_plan if prefix == "stock"
    }
    for chunk in any_of_chunks(checked):
        levels = levels_read(
            {known[out.sku][0] for _, out in chunk if out.stock and out.sku in known},
            stock_locations,
        )
        for number, out in chunk:
            variant = known.get(out.sku)
            if variant is None and "price" not in out.values:
                error(by_number[number], "price", "price is required for a new sku")
            if out.handle not in existing_products and "name" not in products[out.handle].values:
                error(
                    by_number[number],
                    "product_name",
                    f"product_name is required for the new product `{out.handle}`",
                )
            if not out.stock:
                continue
            tracking = out.values.get("tracking") or (variant[1] if variant else "none")
            if tracking != "none":
                for key in out.stock:
                    error(
                        by_number[number],
                        key,
                        f"stock of a {tracking}-tracked sku cannot be imported from the "
                        "catalog template: count it on the Stock screens",
                    )
                continue
            variant_id = variant[0] if variant else None
            diffs = None
            for key, (location_id, counted) in out.stock.items():
                on_hand, reserved = levels.get((location_id, variant_id), NO_LEVEL)
                if counted < reserved:
                    error(
                        by_number[number],
                        key,
                        f"{key} `{counted}` is below the {reserved} already reserved for orders",
                    )
                elif counted != on_hand:
                    diff = StockDiff(number, out.sku, location_id, counted - on_hand)
                    if diffs is None:
                        diffs = stock_by_row[number] = []
                    diffs.append(diff)
        del levels

    bad = preview.invalid_rows
    valid = [out for number, out in parsed.items() if number not in bad] if bad else parsed.values()
    variants = list(
        map(
            VariantInput,
            map(attrgetter("sku"), valid),
            map(attrgetter("handle"), valid),
            map(attrgetter("values"), valid),
            map(attrgetter("barcodes"), valid),
            map(attrgetter("prices"), valid),
        )
    )
    preview.skus = {number: out.sku for number, out in parsed.items() if number not in bad}
    used = {v.handle for v in variants}
    plan = catalog_bulk_plan(
        products={h: p for h, p in products.items() if h in used},
        variants=variants,
        existing_variants=existing,
        existing_products=existing_products,
        existing_barcodes=existing_barcodes,
    )
    preview.catalog_plan = plan
    for number, sku in preview.skus.items():
        outcome = plan.outcome[sku]
        diffs = stock_by_row.get(number)
        if diffs:
            if outcome == "unchanged":
                outcome = "update"
            preview.stock += diffs
        preview.outcome[number] = outcome
    preview.errors.sort(key=lambda e: e.row)
    return preview
