"""One catalog for every store, warehouse and the online shop.

A Product groups Variants; the Variant is the SKU that is sold, counted and priced.
Every change to a variant (or to what its API representation shows: barcodes, location
prices, its product) moves `Variant.change_seq`, the cursor the POS catalog sync reads
(shared/pos-api.md, Catalog); it is taken from the "catalog" event stream, so it follows
commit order like every other stream.
"""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q


class Category(models.Model):
    name = models.CharField(max_length=120)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # "Women > Tops > T-shirts": kept in sync by the catalog services, indexed for search.
    path = models.CharField(max_length=500, unique=True)

    class Meta:
        ordering = ["path"]
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "name"], name="category_unique_name_in_parent"
            ),
            models.UniqueConstraint(
                fields=["name"], condition=Q(parent__isnull=True), name="category_unique_root_name"
            ),
        ]

    def __str__(self) -> str:
        return self.path


class Product(models.Model):
    # Unique, with no varchar_pattern_ops twin on PostgreSQL (dropped by migration
    # 0005, as for Variant.sku and Barcode.code): nothing reads these with a
    # case-sensitive LIKE, the unique index serves the equality lookups, and the twin
    # cost an entry per row an import writes.
    handle = models.SlugField(max_length=255, unique=True)
    name = models.CharField(max_length=255)
    # Indexed in Meta (a plain btree for brand_list's ordered DISTINCT): db_index on a
    # CharField adds a LIKE-pattern twin on PostgreSQL that no query uses.
    brand = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="products"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        # The product list pages by (name, id); search indexes that only PostgreSQL has
        # (trigram on name, pattern on SKU) are created in migration 0002.
        indexes = [
            models.Index(fields=["name", "id"], name="product_name_id"),
            models.Index(fields=["brand"], name="product_brand"),
        ]

    def __str__(self) -> str:
        return self.name


class VariantQuerySet(models.QuerySet):
    def active(self):
        return self.filter(active=True, product__active=True)


class Variant(models.Model):
    """The SKU."""

    class Tracking(models.TextChoices):
        NONE = "none", "Not tracked"
        LOT = "lot", "Lots with expiry"
        SERIAL = "serial", "Serial numbers"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="variants")
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=255, blank=True, help_text="Blank: product name + options.")
    option1_name = models.CharField(max_length=60, blank=True)
    option1_value = models.CharField(max_length=120, blank=True)
    option2_name = models.CharField(max_length=60, blank=True)
    option2_value = models.CharField(max_length=120, blank=True)
    option3_name = models.CharField(max_length=60, blank=True)
    option3_value = models.CharField(max_length=120, blank=True)
    price = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    compare_at_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    active = models.BooleanField(default=True)
    tracking = models.CharField(max_length=10, choices=Tracking.choices, default=Tracking.NONE)
    # Position on the "catalog" stream of this variant's last change (sync cursor).
    # Indexed with id below: the sync pages by (change_seq, id).
    change_seq = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = VariantQuerySet.as_manager()

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="variant_price_not_negative"),
        ]
        # The catalog sync's keyset order: a page is an index range read in order, with
        # no sort of the rows that share one change_seq (an import moves thousands).
        indexes = [models.Index(fields=["change_seq", "id"], name="variant_change_seq_id")]

    def __str__(self) -> str:
        return f"{self.sku} {self.display_name}"

    @property
    def options(self) -> dict[str, str]:
        pairs = [
            (self.option1_name, self.option1_value),
            (self.option2_name, self.option2_value),
            (self.option3_name, self.option3_value),
        ]
        return {name: value for name, value in pairs if name}

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        values = " / ".join(v for v in self.options.values() if v)
        return f"{self.product.name} - {values}" if values else self.product.name


class Barcode(models.Model):
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="barcodes")
    code = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class LocationPrice(models.Model):
    """A variant's price at one location, overriding its base price there."""

    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="location_prices")
    location = models.ForeignKey(
        "stores.Location", on_delete=models.CASCADE, related_name="variant_prices"
    )
    price = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["variant", "location"], name="location_price_unique"),
            models.CheckConstraint(condition=Q(price__gte=0), name="location_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.variant_id}@{self.location_id}: {self.price}"
