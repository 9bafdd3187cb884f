"""Read-only admin for the catalog: every change must go through apps.catalog.services,
which moves the POS sync cursor (catalog_changes_record); a plain admin save would not,
and tills would never see the change. Edit in the back-office screens instead."""

from django.contrib import admin

from .models import Barcode, Category, LocationPrice, Product, Variant


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Category)
class CategoryAdmin(ReadOnlyAdmin):
    list_display = ("path",)
    search_fields = ("path",)


@admin.register(Product)
class ProductAdmin(ReadOnlyAdmin):
    list_display = ("name", "brand", "category", "active")
    list_filter = ("active",)
    list_select_related = ("category",)
    search_fields = ("name", "handle", "brand")


@admin.register(Variant)
class VariantAdmin(ReadOnlyAdmin):
    list_display = ("sku", "product", "price", "tracking", "active", "change_seq")
    list_filter = ("tracking", "active")
    list_select_related = ("product",)
    search_fields = ("sku", "product__name", "barcodes__code")
    show_full_result_count = False


@admin.register(Barcode)
class BarcodeAdmin(ReadOnlyAdmin):
    list_display = ("code", "variant")
    list_select_related = ("variant", "variant__product")
    search_fields = ("code",)
    show_full_result_count = False


@admin.register(LocationPrice)
class LocationPriceAdmin(ReadOnlyAdmin):
    list_display = ("variant", "location", "price")
    list_select_related = ("variant", "variant__product", "location")
