"""Set-based validation of a stock sheet: one row per sku and location, the counted
on hand or a delta, checked against the catalog, the actor's locations and the current
levels in a few queries."""

from __future__ import annotations

from . import cells
from .cells import CellError
from .formats import Row
from .validation import (
    CHUNK,
    Preview,
    RowError,
    StockDiff,
    controls_mark,
    duplicates_mark,
    levels_read,
    locations_for,
    variants_known,
)


def stock_preview(rows: list[Row], *, actor, progress=None) -> Preview:
    """`progress(rows_read)` is called after each chunk of rows read, if given."""
    preview = Preview(kind="stock", rows_total=len(rows))
    errors = preview.errors

    def error(row: Row, column: str, message: str) -> None:
        errors.append(
            RowError(row.number, row.columns.get(column, column), row.get(column), message)
        )

    # Never a cell with a control character in a query (PostgreSQL refuses NUL): those
    # rows are row errors below.
    readable = [
        row for row in rows if cells.control_character("".join(row.values.values())) is None
    ]
    clean = {row.number for row in readable}
    codes = {row.get("location").strip().upper() for row in readable} - {""}
    locations, managed = locations_for(codes, actor)
    preview.locations = {code: code in managed for code in locations}
    known = variants_known({row.get("sku") for row in readable} - {""})
    parsed: dict[int, tuple[str, int, str, int]] = {}  # row -> (sku, location_id, kind, qty)
    for done, row in enumerate(rows, start=1):
        if progress is not None and done % CHUNK == 0:
            progress(done)
        if row.number not in clean:
            controls_mark(row, errors)
            continue
        v = row.values
        sku = v.get("sku", "")
        code = v.get("location", "").strip().upper()
        ok = True
        try:
            if not sku:
                raise CellError("sku is required")
            cells.code_text(sku, "sku")
            if sku not in known:
                raise CellError(f"sku `{sku}` is not in the catalog")
        except CellError as e:
            error(row, "sku", str(e))
            ok = False
        if not code:
            error(row, "location", "location is required")
            ok = False
        elif code not in locations:
            error(row, "location", f"location `{code}` does not exist")
            ok = False
        elif code not in managed:
            error(row, "location", f"you may not change stock at location {code}")
            ok = False
        on_hand, delta = v.get("on_hand", ""), v.get("delta", "")
        if bool(on_hand) == bool(delta):
            error(row, "on_hand", "give exactly one of on_hand (the count) or delta (a change)")
            ok = False
        else:
            column = "on_hand" if on_hand else "delta"
            try:
                quantity = cells.whole_number(on_hand or delta, column)
                if column == "on_hand" and quantity < 0:
                    raise CellError(f"on_hand `{on_hand}` is negative: count what is on the shelf")
            except CellError as e:
                error(row, column, str(e))
                ok = False
        if ok and (v.get("lot") or v.get("serials") or known[sku][1] != "none"):
            error(
                row,
                "lot" if v.get("lot") else "sku",
                f"sku `{sku}` is {known[sku][1]}-tracked: lots and serials cannot be imported yet; "
                "receive them on the Stock screens",
            )
            ok = False
        if ok:
            parsed[row.number] = (sku, locations[code].pk, column, quantity)
    by_number = {row.number: row for row in rows}

    def sku_and_location(row: Row):
        sku = row.get("sku")
        code = row.get("location").strip().upper()
        return (sku, code) if sku and code else None

    # Over every row that names both, not only the valid ones: otherwise a row whose
    # twin has another error would be written as if it were the only one.
    duplicates_mark(
        rows, [sku_and_location(row) for row in rows], "sku", "sku and location", errors
    )
    bad = preview.invalid_rows
    levels = levels_read(
        {known[sku][0] for sku, _, _, _ in parsed.values()},
        {location_id for _, location_id, _, _ in parsed.values()},
    )
    for number, (sku, location_id, column, quantity) in parsed.items():
        if number in bad:
            continue
        on_hand, reserved = levels.get((location_id, known[sku][0]), (0, 0))
        delta = quantity - on_hand if column == "on_hand" else quantity
        if on_hand + delta < reserved or on_hand + delta < 0:
            error(
                by_number[number],
                column,
                f"{column} `{quantity}` would leave {on_hand + delta} on hand, below the "
                f"{reserved} reserved (or below zero)",
            )
            continue
        preview.skus[number] = sku
        preview.outcome[number] = "update" if delta else "unchanged"
        if delta:
            preview.stock.append(StockDiff(number, sku, location_id, delta))
    preview.errors.sort(key=lambda e: e.row)
    return preview
