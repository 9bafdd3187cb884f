"""Reads of stock, scoped by the caller (apps.stores.selectors decides which locations)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from apps.catalog.models import Barcode, Product, Variant
from apps.stores.models import Location
from apps.stores.selectors import location_list_visible

from .models import Discrepancy, Movement, StockAlert, StockLevel


def stock_level_rows(*, location_ids: Iterable[int] | QuerySet) -> QuerySet:
    """Stock levels at these locations as plain dicts: id, seq, on_hand, reserved,
    available, sku, location_code. One query and no model instances, because the POS
    stock read is a hot path. The caller must pass only locations the actor may see."""
    return StockLevel.objects.filter(location_id__in=location_ids).values(
        "id",
        "seq",
        "on_hand",
        "reserved",
        "available",
        sku=F("variant__sku"),
        location_code=F("location__code"),
    )


def _exact_matches(query: str) -> list[int]:
    """Variant ids of a scanned barcode or an exact SKU (index lookups): they win."""
    by_sku = Variant.objects.filter(sku=query).order_by().values_list("pk", flat=True)
    by_barcode = Barcode.objects.filter(code=query).order_by().values_list("variant_id", flat=True)
    return list(by_sku.union(by_barcode))


def _contains_matches(query: str) -> tuple[QuerySet[Variant], QuerySet[Variant]]:
    """Variants whose SKU or name contains the query, and variants whose product's name
    does. Two single-table conditions meant to be UNIONed, never an OR across tables: on
    PostgreSQL each is then an index scan (trigram indexes on the variant's sku and name
    and the product's name), where an OR over a join made the planner scan the whole
    catalog on every keystroke. A blank variant name never contains the (non-empty)
    query; saying so lets PostgreSQL use the name index, which leaves blank names out
    (catalog migration 0006)."""
    named_match = Q(name__icontains=query) & ~Q(name="")
    by_variant = Variant.objects.filter(Q(sku__icontains=query) | named_match)
    by_product = Variant.objects.filter(
        product_id__in=Product.objects.filter(name__icontains=query).order_by().values("pk")
    )
    return by_variant.order_by(), by_product.order_by()


def _search_keys(location: Location, query: str, *, low_only: bool) -> list[tuple[str, int]]:
    """(sku, variant id) of the levels at `location` that a search finds, in SKU order:
    one query after the exact lookup. The contains branches each keep only variants
    with a level here (EXISTS, an index probe) and return their SKU, so the UNION is
    already the answer: no second pass over the matches to join the levels and then
    the variants back for their SKUs."""
    levels = _levels_filtered(location, low_only=low_only)
    exact = _exact_matches(query)
    if exact:
        rows = levels.filter(variant_id__in=exact).order_by("variant__sku")
        return list(rows.values_list("variant__sku", "variant_id"))
    here = Exists(levels.filter(variant_id=OuterRef("pk")))
    by_variant, by_product = _contains_matches(query)
    branches = [rows.filter(here).values_list("sku", "pk") for rows in (by_variant, by_product)]
    return list(branches[0].union(branches[1]).order_by("sku"))


def _levels_filtered(location: Location, *, low_only: bool) -> QuerySet[StockLevel]:
    """The levels at a location that the low-stock filter keeps, with no join to the
    catalog (counts are then read from the level table's indexes)."""
    rows = StockLevel.objects.filter(location=location)
    if low_only:
        rows = rows.filter(reorder_point__gt=0, available__lte=F("reorder_point"))
    return rows


def stock_levels_at(
    location: Location, *, search: str | None = None, low_only: bool = False
) -> QuerySet[StockLevel]:
    """The levels at one location (the caller got it from location_get_visible),
    annotated with sku, product_name and variant_name, ordered by SKU. `search` is the
    stock screen's (`_search_keys`: an exact SKU or barcode, else SKU or name contains);
    `low_only` keeps levels at or below a positive reorder point."""
    rows = _levels_filtered(location, low_only=low_only)
    search = (search or "").strip()
    if search:
        found = [variant_id for _, variant_id in _search_keys(location, search, low_only=False)]
        rows = rows.filter(variant_id__in=found)
    return rows.annotate(
        sku=F("variant__sku"),
        product_name=F("variant__product__name"),
        variant_name=F("variant__name"),
    ).order_by("variant__sku")


def _pages(count: int, page_size: int) -> int:
    """How many pages `count` rows make (at least one, empty)."""
    return max(1, -(-count // page_size))


@dataclass
class StockPage:
    """One page of the stock screen, in SKU order. `number` is the page as shown: exact
    when paged by number or within a search, carried along by the next / previous links
    otherwise (counting the levels before a SKU costs what an OFFSET costs)."""

    levels: list[StockLevel]
    number: int
    count: int
    page_size: int
    has_previous: bool
    has_next: bool

    @property
    def num_pages(self) -> int:
        return _pages(self.count, self.page_size)

    @property
    def first_sku(self) -> str:
        return self.levels[0].sku if self.levels else ""

    @property
    def last_sku(self) -> str:
        return self.levels[-1].sku if self.levels else ""


def stock_page_at(
    location: Location,
    *,
    search: str = "",
    low_only: bool = False,
    after: str = "",
    before: str = "",
    number: int = 1,
    page_size: int = 50,
    portable: bool = False,
) -> StockPage:
    """One page of `stock_levels_at`: the levels after SKU `after`, or before SKU
    `before` (the next / previous links), else page `number` (past the end: the last
    page). Levels come with their variant and product loaded.

    Without a search a page is a keyset read, `sku > after ORDER BY sku LIMIT n`: on
    PostgreSQL an index range on the SKU joined to the page's levels, as cheap at the
    thousandth page as at the first, where OFFSET read and threw away every level
    before the page. A search reads its matching (sku, variant id) pairs once, in SKU
    order: the count is their number and a page a slice of them, so the search's UNION
    is not run again for a COUNT and again for the page. Queries: the count (or the
    search's ones) and the page; a stale cursor costs one more. A typed page number
    on PostgreSQL is a walk of the SKU index (`_page_ids_by_sku_walk`); `portable`
    forces the OFFSET of other databases (the test comparing both)."""
    search = search.strip()
    joined = stock_levels_at(location, low_only=low_only).select_related("variant__product")
    if search:
        keys = _search_keys(location, search, low_only=low_only)
        return _search_page(keys, joined, after, before, number, page_size)
    filtered = _levels_filtered(location, low_only=low_only)
    count = filtered.count()
    pages = _pages(count, page_size)
    if after:
        found = list(joined.filter(variant__sku__gt=after)[: page_size + 1])
        if found:
            has_next = len(found) > page_size
            shown = pages if not has_next else min(max(number, 2), max(pages - 1, 2))
            return StockPage(found[:page_size], shown, count, page_size, True, has_next)
        # A cursor past the end (the last levels went since): the last page.
        last = list(joined.order_by("-variant__sku")[:page_size])[::-1]
        return StockPage(last, pages, count, page_size, count > len(last), False)
    if before:
        found = list(
            joined.filter(variant__sku__lt=before).order_by("-variant__sku")[: page_size + 1]
        )
        if len(found) > page_size:
            shown = min(max(number, 2), max(pages - 1, 2))
            return StockPage(found[:page_size][::-1], shown, count, page_size, True, True)
        if len(found) < page_size:  # levels came in before the cursor since: page 1
            found = list(joined[: page_size + 1])
            return StockPage(found[:page_size], 1, count, page_size, False, len(found) > page_size)
        return StockPage(found[::-1], 1, count, page_size, False, count > page_size)
    # A page by number (a typed ?page=): its variant ids are chosen by a narrow
    # subquery, then only those levels are joined to the catalog.
    number = min(max(number, 1), pages)
    start = (number - 1) * page_size
    if connection.vendor == "postgresql" and not low_only and not portable:
        ids = _page_ids_by_sku_walk(location, start, count, page_size)
    else:
        ids = filtered.order_by("variant__sku").values("variant_id")[start : start + page_size]
    found = list(joined.filter(variant_id__in=ids))
    return StockPage(found, number, count, page_size, number > 1, number < pages)


def _page_ids_by_sku_walk(location: Location, start: int, count: int, page_size: int) -> RawSQL:
    """The variant ids of levels `start` to `start + page_size` at `location` in SKU
    order (the OFFSET subquery's rows), as a subquery that walks the variants' SKU index
    and probes the level table's (location, variant) index for each variant it passes,
    from whichever end of the SKU order is nearer. A LATERAL with LIMIT 1 is never
    flattened, so the planner cannot turn the walk back into a hash join of every level
    here with every variant and a sort of them all (what OFFSET did: ~2x the CPU at
    page 1000 of 2000). `count` is the levels here, from the page's count query."""
    end = min(start + page_size, count)
    backward = count - end < start
    variant, level = Variant._meta.db_table, StockLevel._meta.db_table
    sql = (  # table names from the models and a fixed direction; values are parameters
        f'SELECT v."id" FROM "{variant}" v CROSS JOIN LATERAL (SELECT 1 FROM "{level}" s '  # noqa: S608
        'WHERE s."location_id" = %s AND s."variant_id" = v."id" LIMIT 1) here '
        f'ORDER BY v."sku" {"DESC" if backward else "ASC"} LIMIT %s OFFSET %s'
    )
    params = (location.pk, max(end - start, 0), count - end if backward else start)
    return RawSQL(sql, params)  # noqa: S611


def _search_page(keys, joined, after, before, number, page_size) -> StockPage:
    count = len(keys)
    # The cursor is looked up among the matches, never compared in Python: the order
    # is the database's collation.
    if after or before:
        try:
            at = [sku for sku, _ in keys].index(after or before)
        except ValueError:  # no longer among the matches: from the top
            start = 0
        else:
            start = at + 1 if after else max(0, at - page_size)
    else:
        start = (max(number, 1) - 1) * page_size
    if start >= count:  # past the end: the last page
        start = max(0, (count - 1) // page_size * page_size)
    ids = [variant_id for _, variant_id in keys[start : start + page_size]]
    found = list(joined.filter(variant_id__in=ids)) if ids else []
    shown = min(-(-start // page_size) + 1, _pages(count, page_size))
    return StockPage(found, shown, count, page_size, start > 0, start + page_size < count)


def stock_for_variant(variant: Variant, visible_locations: QuerySet[Location]) -> QuerySet:
    """One variant's levels at the locations the caller may see, by location code."""
    return (
        StockLevel.objects.filter(variant=variant, location__in=visible_locations)
        .select_related("location")
        .order_by("location__code")
    )


def movements_for(
    *,
    visible_locations: QuerySet[Location],
    location: Location | None = None,
    variant: Variant | None = None,
    reason: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    reference_type: str | None = None,
    reference_id: str | None = None,
) -> QuerySet[Movement]:
    """Ledger rows, newest first, within the locations the caller may see. Dates are
    inclusive days in the current time zone."""
    rows = (
        Movement.objects.filter(location__in=visible_locations)
        .select_related("variant", "location", "actor_user", "actor_client", "lot")
        .order_by("-created_at", "-id")
    )
    if location is not None:
        rows = rows.filter(location=location)
    if variant is not None:
        rows = rows.filter(variant=variant)
    if reason:
        rows = rows.filter(reason=reason)
    if date_from:
        start = timezone.make_aware(datetime.combine(date_from, time.min))
        rows = rows.filter(created_at__gte=start)
    if date_to:
        end = timezone.make_aware(datetime.combine(date_to, time.max))
        rows = rows.filter(created_at__lte=end)
    if reference_type:
        rows = rows.filter(reference_type=reference_type)
    if reference_id:
        rows = rows.filter(reference_id=reference_id)
    return rows


def alerts_open_for(actor) -> QuerySet[StockAlert]:
    """The low-stock inbox: open alerts at the locations the actor may see."""
    return (
        StockAlert.objects.filter(
            status=StockAlert.Status.OPEN, level__location__in=location_list_visible(actor)
        )
        .select_related("level__variant__product", "level__location")
        .order_by("level__location__code", "level__variant__sku")
    )


def discrepancies_open_for(actor) -> QuerySet[Discrepancy]:
    """Short POS sales waiting for review, at the locations the actor may see."""
    return (
        Discrepancy.objects.filter(
            status=Discrepancy.Status.OPEN, level__location__in=location_list_visible(actor)
        )
        .select_related("level__variant", "level__location")
        .order_by("-created_at")
    )
