from django.contrib import admin
from import_export.admin import ImportExportModelAdmin

from .models import ImportJob, ProductRecord, VariantRecord
from .resources import ProductAdminResource, VariantAdminResource


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("id", "original_filename", "kind", "status", "uploaded_by", "created_at")
    list_filter = ("status", "kind")
    readonly_fields = [field.name for field in ImportJob._meta.fields]


@admin.register(VariantRecord)
class VariantRecordAdmin(ImportExportModelAdmin):
    resource_classes = [VariantAdminResource]
    list_display = ("sku", "product", "price", "active")
    search_fields = ("sku",)
    list_select_related = ("product",)


@admin.register(ProductRecord)
class ProductRecordAdmin(ImportExportModelAdmin):
    resource_classes = [ProductAdminResource]
    list_display = ("handle", "name", "brand", "active")
    search_fields = ("handle", "name")
