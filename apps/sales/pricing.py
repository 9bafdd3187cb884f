"""The one pricing function: the quote endpoint and every sale go through it.

Today it applies the location's effective price (LocationPrice, else the variant's
price); the campaigns and loyalty issues extend it with promotions, coupons and points.
All rounding is apps.core.money.round_money, applied per line and to nothing else, so
the order totals are exact sums of rounded lines.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import DEFAULT_DB_ALIAS, connections

from apps.catalog.models import LocationPrice, Product, Variant
from apps.core.errors import UnknownSku, ValidationFailed
from apps.core.money import ZERO, round_money
from apps.core.rows import prepared_cursor
from apps.stores.models import Location

# The largest amount a money column (12 digits, 2 places) holds: a larger line or order
# total is a 400 naming the field, never a database overflow (500 on PostgreSQL).
MAX_AMOUNT = Decimal("9999999999.99")


@dataclass(frozen=True)
class LineInput:
    sku: str
    quantity: int


@dataclass
class QuoteLine:
    sku: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    total: Decimal
    variant: Variant
    promotions: list[str] = field(default_factory=list)

    @property
    def sellable(self) -> bool:
        return self.variant.active and self.variant.product.active


@dataclass
class Quote:
    lines: list[QuoteLine]
    subtotal: Decimal
    discount_total: Decimal
    total: Decimal
    promotions: list[dict] = field(default_factory=list)
    gifts: list[dict] = field(default_factory=list)
    points_to_earn: int = 0

    def as_dict(self) -> dict:
        return {
            "lines": [
                {
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": f"{line.unit_price:.2f}",
                    "discount": f"{line.discount:.2f}",
                    "total": f"{line.total:.2f}",
                    "promotions": line.promotions,
                }
                for line in self.lines
            ],
            "subtotal": f"{self.subtotal:.2f}",
            "discount_total": f"{self.discount_total:.2f}",
            "total": f"{self.total:.2f}",
            "promotions": self.promotions,
            "gifts": self.gifts,
            "points_to_earn": self.points_to_earn,
        }


@functools.lru_cache(maxsize=32)
def _priced_sql(count: int, vendor: str) -> tuple[str, list, list, list]:
    """The variants-with-product-and-location-price SELECT for `count` SKUs, and per
    column the backend's converters (what the ORM applies to the same columns)."""
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    variant_fields = Variant._meta.concrete_fields
    product_fields = Product._meta.concrete_fields
    price_field = LocationPrice._meta.get_field("price")
    columns = [f"v.{quote(f.column)}" for f in variant_fields]
    columns += [f"p.{quote(f.column)}" for f in product_fields]
    sql = (
        f"SELECT {', '.join(columns)}, (SELECT lp.{quote(price_field.column)}"  # noqa: S608
        f" FROM {quote(LocationPrice._meta.db_table)} lp"
        " WHERE lp.variant_id = v.id AND lp.location_id = %s)"
        f" FROM {quote(Variant._meta.db_table)} v"
        f" INNER JOIN {quote(Product._meta.db_table)} p ON p.id = v.product_id"
        f" WHERE v.sku IN ({', '.join(['%s'] * count)})"
    )
    expressions = [f.get_col("v") for f in variant_fields]
    expressions += [f.get_col("p") for f in product_fields]
    expressions.append(price_field.get_col("lp"))
    converters = [
        (
            expression,
            connection.ops.get_db_converters(expression) + expression.get_db_converters(connection),
        )
        for expression in expressions
    ]
    return (
        sql,
        [f.attname for f in variant_fields],
        [f.attname for f in product_fields],
        converters,
    )


def variants_priced_at(*, location: Location, skus: Sequence[str]) -> dict[str, Variant]:
    """Variants by SKU, each with its product and `effective_price` at the location: one
    query, written out because compiling its ORM form cost more than running it."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    connection = connections[DEFAULT_DB_ALIAS]
    sql, variant_names, product_names, converters = _priced_sql(len(wanted), connection.vendor)
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, [location.pk, *wanted])
        rows = cursor.fetchall()
    found = {}
    split = len(variant_names)
    for row in rows:
        values = list(row)
        for index, (expression, functions) in enumerate(converters):
            for function in functions:
                values[index] = function(values[index], expression, connection)
        variant = Variant.from_db(connection.alias, variant_names, values[:split])
        product = Product.from_db(connection.alias, product_names, values[split:-1])
        Variant.product.field.set_cached_value(variant, product)
        location_price = values[-1]
        variant.location_price = location_price
        variant.effective_price = location_price if location_price is not None else variant.price
        found[variant.sku] = variant
    return found


def price_lines(
    *,
    location: Location,
    lines: Sequence[LineInput],
    member: str | None = None,
    coupons: Sequence[str] = (),
) -> Quote:
    """Price lines at a location. Raises UnknownSku and ValidationFailed, naming the
    field (`lines.<index>.sku`, `lines.<index>.quantity`; `lines` when the order total
    exceeds MAX_AMOUNT)."""
    if not lines:
        raise ValidationFailed.for_field("lines", "At least one line is required.")
    for index, line in enumerate(lines):
        if not isinstance(line.quantity, int) or line.quantity <= 0:
            raise ValidationFailed.for_field(
                f"lines.{index}.quantity", "Quantity must be a whole number above zero."
            )
    variants = variants_priced_at(location=location, skus=[line.sku for line in lines])
    unknown = [(i, line.sku) for i, line in enumerate(lines) if line.sku not in variants]
    if unknown:
        raise UnknownSku(
            f"Unknown SKU {unknown[0][1]!r}.",
            errors=[
                {"field": f"lines.{i}.sku", "code": "unknown_sku", "detail": f"Unknown SKU {s!r}."}
                for i, s in unknown
            ],
        )
    priced = []
    for index, line in enumerate(lines):
        variant = variants[line.sku]
        unit_price = round_money(variant.effective_price)
        discount = ZERO
        total = round_money(unit_price * line.quantity - discount)
        if unit_price * line.quantity > MAX_AMOUNT or total > MAX_AMOUNT:
            raise ValidationFailed.for_field(
                f"lines.{index}.quantity",
                f"The line total would exceed {MAX_AMOUNT}; split the sale.",
            )
        priced.append(
            QuoteLine(
                sku=line.sku,
                quantity=line.quantity,
                unit_price=unit_price,
                discount=discount,
                total=total,
                variant=variant,
            )
        )
    subtotal = sum((line.unit_price * line.quantity for line in priced), ZERO)
    discount_total = sum((line.discount for line in priced), ZERO)
    if subtotal > MAX_AMOUNT or subtotal - discount_total > MAX_AMOUNT:
        raise ValidationFailed.for_field(
            "lines", f"The order total would exceed {MAX_AMOUNT}; split the sale."
        )
    return Quote(
        lines=priced,
        subtotal=round_money(subtotal),
        discount_total=round_money(discount_total),
        total=round_money(subtotal - discount_total),
    )
