"""Read-only admin for stock: balances change only through apps.inventory.ledger with
their ledger rows (ARCHITECTURE rule 1); an admin save would break check_stock."""

from django.contrib import admin

from .models import Discrepancy, Lot, LotLevel, Movement, Serial, StockAlert, StockLevel


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StockLevel)
class StockLevelAdmin(ReadOnlyAdmin):
    list_display = ("variant", "location", "on_hand", "reserved", "reorder_point", "seq")
    list_filter = ("location",)
    search_fields = ("variant__sku",)
    list_select_related = ("variant__product", "location")


@admin.register(Movement)
class MovementAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "location",
        "variant",
        "reason",
        "delta_on_hand",
        "delta_reserved",
        "reference_type",
        "reference_id",
    )
    list_filter = ("reason", "location")
    search_fields = ("variant__sku", "reference_id")
    list_select_related = ("variant__product", "location")


@admin.register(Lot)
class LotAdmin(ReadOnlyAdmin):
    list_display = ("code", "variant", "expires_on")
    search_fields = ("code", "variant__sku")
    list_select_related = ("variant__product",)


@admin.register(LotLevel)
class LotLevelAdmin(ReadOnlyAdmin):
    list_display = ("lot", "location", "on_hand")
    list_select_related = ("lot", "location")


@admin.register(Serial)
class SerialAdmin(ReadOnlyAdmin):
    list_display = ("number", "variant", "status", "location")
    list_filter = ("status",)
    search_fields = ("number", "variant__sku")
    list_select_related = ("variant__product", "location")


@admin.register(StockAlert)
class StockAlertAdmin(ReadOnlyAdmin):
    list_display = ("level", "status", "available_when_raised", "reorder_point", "created_at")
    list_filter = ("status",)


@admin.register(Discrepancy)
class DiscrepancyAdmin(ReadOnlyAdmin):
    list_display = ("level", "quantity_short", "reference_type", "reference_id", "status")
    list_filter = ("status",)
