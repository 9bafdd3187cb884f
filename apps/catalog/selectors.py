"""Reads of the catalog. Every back-office user reads the catalog; stock shown beside it
is limited to the locations the reader may see (apps.stores.selectors)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    F,
    FilteredRelation,
    Max,
    Min,
    Prefetch,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Coalesce

from apps.core.errors import NotFound
from apps.core.money import round_money
from apps.inventory.models import StockLevel
from apps.stores.models import Location
from apps.stores.selectors import location_list_visible

from .models import Barcode, Category, LocationPrice, Product, Variant

PAGE_SIZE = 50
# The list counts at most this many matches ("10,000+"): counting every row of a large
# catalog on each keystroke costs more than the page itself and nobody pages that deep.
COUNT_LIMIT = 10_000


# --- prices ---------------------------------------------------------------------------


def variant_price_at(variant: Variant, location: Location | None) -> Decimal:
    """The price of a variant at a location: its location price if set, else its base."""
    if location is None:
        return variant.price
    override = (
        LocationPrice.objects.filter(variant_id=variant.pk, location_id=location.pk)
        .values_list("price", flat=True)
        .first()
    )
    return override if override is not None else variant.price


def prices_at(location: Location | None, variant_ids: Iterable[int]) -> dict[int, Decimal]:
    """Bulk `variant_price_at`: {variant_id: price} in two queries whatever the count.
    Unknown ids are left out."""
    ids = list(set(variant_ids))
    prices = dict(Variant.objects.filter(pk__in=ids).values_list("pk", "price"))
    if location is not None and prices:
        overrides = LocationPrice.objects.filter(location_id=location.pk, variant_id__in=ids)
        prices.update(overrides.values_list("variant_id", "price"))
    return prices


def variant_list_for_api(*, location: Location | None) -> QuerySet[Variant]:
    """Variants as the catalog API shows them, with `price_effective` (the price at
    `location` if one is set there, else the base price), product, category and
    barcodes loaded, so a page costs a constant number of queries. The location price
    is one LEFT JOIN (at most one row per variant and location: location_price_unique)
    rather than a subquery per row. `price_here` is the bare location price (null when
    none is set, the base price when there is no location): a hot read selects it and
    `price` and coalesces in Python, without a per-row converter for the expression."""
    variants = Variant.objects.select_related("product", "product__category").prefetch_related(
        "barcodes"
    )
    if location is None:
        return variants.annotate(price_effective=F("price"), price_here=F("price"))
    return variants.annotate(
        location_price=FilteredRelation(
            "location_prices", condition=Q(location_prices__location_id=location.pk)
        ),
        price_effective=Coalesce(
            F("location_price__price"),
            F("price"),
            output_field=DecimalField(max_digits=12, decimal_places=2),
        ),
        price_here=F("location_price__price"),
    )


# --- the product list -----------------------------------------------------------------


@dataclass
class ProductRow:
    product: Product
    variant_count: int = 0
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    active_variant_count: int = 0


@dataclass
class ProductPage:
    rows: list[ProductRow]
    number: int
    page_size: int
    total: int
    total_is_capped: bool
    has_next: bool
    last_page: int
    pages: list[int] = field(default_factory=list)

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def product_search_filter(query: str) -> Q:
    """Search as typed: SKU prefix, exact barcode, or product name contains
    (case-insensitive). The three matches are a UNION of ids, so PostgreSQL serves each
    from its own index (migration 0002: trigram on name, pattern on SKU, unique barcode)
    instead of scanning every product to test an OR."""
    query = query.strip()
    name_match = Product.objects.filter(name__icontains=query).values("pk").order_by()
    sku_match = Variant.objects.filter(sku__istartswith=query).values("product_id").order_by()
    barcode_match = Barcode.objects.filter(code=query).values("variant__product_id").order_by()
    return Q(pk__in=name_match.union(sku_match, barcode_match))


def _money_or_none(value) -> Decimal | None:
    # SQLite's MIN/MAX give back 19.9 for 19.90: show money with its two places.
    return None if value is None else round_money(value)


def product_list_queryset(
    *,
    query: str = "",
    category: Category | None = None,
    brand: str = "",
    active: bool | None = None,
) -> QuerySet[Product]:
    products = Product.objects.all()
    if query.strip():
        products = products.filter(product_search_filter(query))
    if category is not None:
        products = products.filter(
            Q(category_id=category.pk) | Q(category__path__startswith=f"{category.path} > ")
        )
    if brand:
        products = products.filter(brand__iexact=brand)
    if active is not None:
        products = products.filter(active=active)
    return products.order_by("name", "pk")


def product_page(
    *,
    query: str = "",
    category: Category | None = None,
    brand: str = "",
    active: bool | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> ProductPage:
    """One page of products (one row per product, with its variant count and price
    range) in three queries whatever the page: a bounded count, the page's products,
    the page's variant aggregates. A page past the end shows the last page."""
    products = product_list_queryset(query=query, category=category, brand=brand, active=active)
    total = products.values("pk")[: COUNT_LIMIT + 1].count()
    capped = total > COUNT_LIMIT
    total = min(total, COUNT_LIMIT)
    last_page = max(1, -(-total // page_size))
    number = min(max(1, page), last_page)
    offset = (number - 1) * page_size
    page_products = list(products.select_related("category")[offset : offset + page_size + 1])
    has_next = len(page_products) > page_size
    page_products = page_products[:page_size]
    aggregates = {
        row["product_id"]: row
        for row in Variant.objects.filter(product_id__in=[p.pk for p in page_products])
        .values("product_id")
        .annotate(
            count=Count("pk"),
            active_count=Count("pk", filter=Q(active=True)),
            price_min=Min("price"),
            price_max=Max("price"),
        )
        .order_by()
    }
    rows = []
    for product in page_products:
        aggregate = aggregates.get(product.pk, {})
        rows.append(
            ProductRow(
                product=product,
                variant_count=aggregate.get("count", 0),
                active_variant_count=aggregate.get("active_count", 0),
                price_min=_money_or_none(aggregate.get("price_min")),
                price_max=_money_or_none(aggregate.get("price_max")),
            )
        )
    window = range(max(1, number - 3), min(last_page, number + 3) + 1)
    return ProductPage(
        rows=rows,
        number=number,
        page_size=page_size,
        total=total,
        total_is_capped=capped,
        has_next=has_next or (capped and number == last_page),
        last_page=last_page,
        pages=list(window),
    )


def category_list() -> QuerySet[Category]:
    return Category.objects.order_by("path")


def category_get(category_id: int) -> Category:
    category = Category.objects.filter(pk=category_id).first()
    if category is None:
        raise NotFound("No such category.")
    return category


def brand_list() -> QuerySet:
    """Brands in use, as a lazy query: a fragment render that does not show the filter
    bar never runs it."""
    return (
        Product.objects.exclude(brand="")
        .order_by("brand")
        .values_list("brand", flat=True)
        .distinct()
    )


# --- one product ----------------------------------------------------------------------


def product_get(product_id: int) -> Product:
    product = Product.objects.select_related("category").filter(pk=product_id).first()
    if product is None:
        raise NotFound("No such product.")
    return product


def variant_get(variant_id: int) -> Variant:
    variant = Variant.objects.select_related("product").filter(pk=variant_id).first()
    if variant is None:
        raise NotFound("No such variant.")
    return variant


def barcode_get(barcode_id: int) -> Barcode:
    barcode = Barcode.objects.select_related("variant").filter(pk=barcode_id).first()
    if barcode is None:
        raise NotFound("No such barcode.")
    return barcode


@dataclass
class StockCell:
    on_hand: int = 0
    reserved: int = 0
    available: int = 0


@dataclass
class ProductDetail:
    product: Product
    variants: list[Variant]
    locations: list[Location]
    # {variant_id: {location_id: StockCell}}
    stock: dict[int, dict[int, StockCell]]
    # {location_id: StockCell} summed over the product's variants
    stock_totals: dict[int, StockCell]

    @property
    def stock_rows(self) -> list[tuple[Variant, list[StockCell | None]]]:
        """One row per variant, one cell per location (None: never stocked there)."""
        return [
            (variant, [self.stock.get(variant.pk, {}).get(loc.pk) for loc in self.locations])
            for variant in self.variants
        ]

    @property
    def total_row(self) -> list[StockCell | None]:
        return [self.stock_totals.get(location.pk) for location in self.locations]


def product_detail(*, actor, product_id: int) -> ProductDetail:
    """A product with its variants, barcodes, location prices and stock at every
    location the actor may see, in a constant number of queries."""
    product = product_get(product_id)
    locations = list(location_list_visible(actor).order_by("code"))
    location_ids = [location.pk for location in locations]
    variants = list(
        Variant.objects.filter(product=product)
        .prefetch_related(
            "barcodes",
            _location_prices_prefetch(location_ids),
        )
        .order_by("sku")
    )
    for variant in variants:
        variant.product = product
    stock: dict[int, dict[int, StockCell]] = {}
    totals: dict[int, StockCell] = {}
    levels = (
        StockLevel.objects.filter(variant__product=product, location_id__in=location_ids)
        .values("variant_id", "location_id")
        .annotate(on_hand=Sum("on_hand"), reserved=Sum("reserved"), available=Sum("available"))
        .order_by()
    )
    for level in levels:
        cell = StockCell(level["on_hand"], level["reserved"], level["available"])
        stock.setdefault(level["variant_id"], {})[level["location_id"]] = cell
        total = totals.setdefault(level["location_id"], StockCell())
        total.on_hand += cell.on_hand
        total.reserved += cell.reserved
        total.available += cell.available
    return ProductDetail(
        product=product, variants=variants, locations=locations, stock=stock, stock_totals=totals
    )


def _location_prices_prefetch(location_ids: list[int]) -> Prefetch:
    return Prefetch(
        "location_prices",
        queryset=LocationPrice.objects.filter(location_id__in=location_ids)
        .select_related("location")
        .order_by("location__code"),
    )
