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
from import_export.widgets import ForeignKeyWidget

from apps.catalog.models import Product, Variant
from apps.catalog.services import catalog_changes_record
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


class _RecordsCatalogChanges:
    """django-import-export writes row by row; whatever it saved still moves the POS
    sync cursor, in the import's transaction (catalog_changes_record)."""

    def before_import(self, dataset, **kwargs):
        self._changed_variant_ids: set[int] = set()
        return super().before_import(dataset, **kwargs)

    def after_import(self, dataset, result, **kwargs):
        super().after_import(dataset, result, **kwargs)
        if not self._is_dry_run(kwargs) and self._changed_variant_ids:
            catalog_changes_record(variant_ids=self._changed_variant_ids)


class VariantAdminResource(_RecordsCatalogChanges, resources.ModelResource):
    """The plain row-by-row ModelResource import (the admin's, and the benchmark's
    baseline); the screens use the set-based fast path instead."""

    product = Field(
        attribute="product",
        column_name="product_handle",
        widget=ForeignKeyWidget(Product, field="handle"),
    )

    class Meta:
        model = Variant
        import_id_fields = ["sku"]
        fields = [
            "sku",
            "product",
            "price",
            "compare_at_price",
            "cost",
            "option1_name",
            "option1_value",
            "option2_name",
            "option2_value",
            "option3_name",
            "option3_value",
            "active",
            "tracking",
        ]
        skip_unchanged = True
        use_transactions = True

    def after_save_instance(self, instance, row, **kwargs):
        super().after_save_instance(instance, row, **kwargs)
        self._changed_variant_ids.add(instance.pk)


class ProductAdminResource(_RecordsCatalogChanges, resources.ModelResource):
    class Meta:
        model = Product
        import_id_fields = ["handle"]
        fields = ["handle", "name", "brand", "description", "active"]
        skip_unchanged = True
        use_transactions = True

    def after_save_instance(self, instance, row, **kwargs):
        super().after_save_instance(instance, row, **kwargs)
        self._changed_variant_ids.update(instance.variants.values_list("pk", flat=True))
