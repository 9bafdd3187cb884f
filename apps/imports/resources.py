"""django-import-export resources: the catalog template and the stock sheet as exports.

Exports are what a user edits and imports back, so their columns are exactly the
import templates' (apps.imports.formats). Every text cell goes through
`formula_escape`: django-import-export's IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT only
drops a leading "=" (it changes the data and ignores +, - and @), so we prefix a quote
instead, which spreadsheets show as text and our importer strips again.
"""

from __future__ import annotations

from import_export import resources
from import_export.fields import Field

from apps.catalog.models import Variant
from apps.inventory.models import StockLevel

from .formats import CATALOG_COLUMNS

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_escape(value) -> str:
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


class EscapedResource(resources.ModelResource):
    def export_field(self, field, instance, **kwargs):
        return formula_escape(super().export_field(field, instance, **kwargs))


class CatalogResource(EscapedResource):
    """One row per variant, in the catalog template, with price@ and stock@ columns for
    the given locations."""

    sku = Field(attribute="sku", column_name="sku")
    product_handle = Field(attribute="product__handle", column_name="product_handle")
    product_name = Field(attribute="product__name", column_name="product_name")
    price = Field(attribute="price", column_name="price")
    barcode = Field(column_name="barcode")
    category = Field(column_name="category")
    brand = Field(attribute="product__brand", column_name="brand")
    description = Field(attribute="product__description", column_name="description")
    compare_at_price = Field(attribute="compare_at_price", column_name="compare_at_price")
    cost = Field(attribute="cost", column_name="cost")
    active = Field(column_name="active")
    tracking = Field(attribute="tracking", column_name="tracking")

    class Meta:
        model = Variant
        fields = CATALOG_COLUMNS
        export_order = CATALOG_COLUMNS
        import_id_fields = ["sku"]

    def __init__(self, locations=(), **kwargs):
        super().__init__(**kwargs)
        self.locations = list(locations)
        for location in self.locations:
            for prefix in ("price", "stock"):
                name = f"{prefix}@{location.code}"
                self.fields[name] = Field(
                    column_name=name, dehydrate_method=self._location_value(prefix, location.pk)
                )

    def get_export_order(self):
        return [*CATALOG_COLUMNS, *(n for n in self.fields if "@" in n)]

    @staticmethod
    def _location_value(prefix: str, location_id: int):
        def value(variant):
            if prefix == "price":
                for price in variant.location_prices.all():
                    if price.location_id == location_id:
                        return price.price
                return ""
            for level in variant.stock_levels.all():
                if level.location_id == location_id:
                    return level.on_hand
            return 0

        return value

    def get_queryset(self):
        return Variant.objects.select_related("product__category").prefetch_related(
            "barcodes", "location_prices", "stock_levels"
        )

    def dehydrate_barcode(self, variant) -> str:
        return "|".join(sorted(b.code for b in variant.barcodes.all()))

    def dehydrate_category(self, variant) -> str:
        category = variant.product.category
        return category.path if category else ""

    def dehydrate_active(self, variant) -> str:
        return "true" if variant.active else "false"


class StockResource(EscapedResource):
    """The stock sheet: one row per variant and location, with the counted on hand."""

    sku = Field(attribute="variant__sku", column_name="sku")
    location = Field(attribute="location__code", column_name="location")
    on_hand = Field(attribute="on_hand", column_name="on_hand")

    class Meta:
        model = StockLevel
        fields = ["sku", "location", "on_hand"]
        export_order = ["sku", "location", "on_hand"]
