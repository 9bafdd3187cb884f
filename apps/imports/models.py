"""Import jobs: one uploaded spreadsheet, from upload through preview to the result."""

from django.conf import settings
from django.db import models

from apps.catalog.models import Product, Variant


class ImportJob(models.Model):
    class Kind(models.TextChoices):
        CATALOG = "catalog", "Catalog template"
        STOCK = "stock", "Stock sheet"
        SHOPIFY = "shopify", "Shopify product CSV"

    class Mode(models.TextChoices):
        ALL_OR_NOTHING = "all_or_nothing", "All or nothing"
        SKIP_INVALID = "skip_invalid", "Skip bad rows"

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        VALIDATING = "validating", "Validating"
        PREVIEWED = "previewed", "Ready to confirm"
        REFUSED = "refused", "Refused"
        APPLYING = "applying", "Applying"
        APPLIED = "applied", "Applied"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    kind = models.CharField(max_length=20, choices=Kind.choices, blank=True)
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.ALL_OR_NOTHING)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.UPLOADED)
    # Path in the default storage (under MEDIA_ROOT), readable by every web server and worker.
    file = models.CharField(max_length=255)
    original_filename = models.CharField(max_length=255)
    file_size = models.PositiveBigIntegerField(default=0)
    # sha256 of the uploaded bytes: a stock sheet of deltas already applied is not
    # added again (importing the same file twice changes nothing the second time).
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    # Where Shopify inventory quantities go; the default location of a stock sheet.
    location = models.ForeignKey(
        "stores.Location", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # What the preview read the database at: {"streams": {stream: last seq},
    # "locations": {code: may manage}, "plan": path of what it would write}. An apply
    # that finds the same again writes that plan without validating the file again.
    preview_state = models.JSONField(default=dict, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    count_create = models.PositiveIntegerField(default=0)
    count_update = models.PositiveIntegerField(default=0)
    count_unchanged = models.PositiveIntegerField(default=0)
    count_invalid = models.PositiveIntegerField(default=0)
    stock_movements = models.PositiveIntegerField(default=0)
    # [{"row", "column", "value", "message"}], the first OMO_IMPORT_ERRORS_KEPT of them;
    # the error file (error_file) has every one.
    row_errors = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    samples = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)
    error_file = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    applying_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the retention policy deleted the upload and everything stored beside it (the
    # error file among them); the row, its counts and first errors stay.
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import {self.pk} {self.original_filename} ({self.status})"

    @property
    def is_running(self) -> bool:
        return self.status in {self.Status.UPLOADED, self.Status.VALIDATING, self.Status.APPLYING}

    @property
    def progress_percent(self) -> int:
        if not self.rows_total:
            return 0
        return min(100, round(100 * self.rows_done / self.rows_total))


class VariantRecord(Variant):
    """The Variant, registered in the Django admin with import/export buttons (a proxy,
    so the catalog app keeps its own admin registration free)."""

    class Meta:
        proxy = True
        verbose_name = "variant (spreadsheet import/export)"
        verbose_name_plural = "variants (spreadsheet import/export)"


class ProductRecord(Product):
    class Meta:
        proxy = True
        verbose_name = "product (spreadsheet import/export)"
        verbose_name_plural = "products (spreadsheet import/export)"
