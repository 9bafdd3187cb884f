from django.contrib import admin

from .models import Location


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "city", "timezone", "active")
    list_filter = ("kind", "active")
    search_fields = ("code", "name", "city")
