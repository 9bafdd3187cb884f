import zoneinfo

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

location_code_validator = RegexValidator(
    r"^[A-Z0-9][A-Z0-9_-]{0,19}$",
    "A location code is 1-20 capital letters, digits, '-' or '_', e.g. S01.",
)


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone.")


class LocationQuerySet(models.QuerySet):
    def active(self):
        return self.filter(active=True)


class Location(models.Model):
    class Kind(models.TextChoices):
        STORE = "store", "Store"
        WAREHOUSE = "warehouse", "Warehouse"
        ONLINE = "online", "Online shop"

    code = models.CharField(max_length=20, unique=True, validators=[location_code_validator])
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.STORE)
    timezone = models.CharField(
        max_length=64, default="Europe/Paris", validators=[validate_timezone]
    )
    address = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=120, blank=True)
    active = models.BooleanField(default=True)
    # Stock policy: a POS sale of goods already in the customer's hand is recorded even
    # when the system count is short; this says whether on hand may then go below zero
    # (a discrepancy is raised either way). Online reservations never may.
    allows_negative_stock = models.BooleanField(default=True)

    objects = LocationQuerySet.as_manager()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"
