from django.contrib import admin

from .models import Location
from .services import location_delete


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "city", "timezone", "active")
    list_filter = ("kind", "active")
    search_fields = ("code", "name", "city")

    # Through location_delete, which locks the row before Django's PROTECT check (a
    # stock level has no foreign key constraint on its location).
    def delete_model(self, request, obj):
        location_delete(location=obj)

    def delete_queryset(self, request, queryset):
        for location in queryset.order_by("pk"):
            location_delete(location=location)
