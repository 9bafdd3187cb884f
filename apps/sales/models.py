"""Orders from every channel: POS sales, online orders for pickup, returns, exchanges.

An Order is what a customer bought, whatever the channel: a POS sale is `completed`
when recorded; an online order for pickup goes reserved -> ready -> collected, or ends
cancelled or expired. Stock moves only through the inventory ledger, with the order's
number as the movement reference.
"""

from django.db import models
from django.db.models import Q


class Counter(models.Model):
    """Per-location number sequences ("order.S01", "return.S01"), taken with one atomic
    UPDATE whose row lock is held until commit, so numbers are unique and gap-free."""

    name = models.CharField(max_length=60, primary_key=True)
    last = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}@{self.last}"


class Order(models.Model):
    class Channel(models.TextChoices):
        POS = "pos", "POS"
        ONLINE = "online", "Online"

    class Status(models.TextChoices):
        COMPLETED = "completed", "Completed"
        RESERVED = "reserved", "Reserved"
        READY = "ready", "Ready for pickup"
        COLLECTED = "collected", "Collected"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"

    channel = models.CharField(max_length=10, choices=Channel.choices)
    location = models.ForeignKey("stores.Location", on_delete=models.PROTECT, related_name="+")
    number = models.CharField(max_length=30, unique=True)
    client_id = models.UUIDField(null=True, blank=True)
    created_by = models.ForeignKey(
        "accounts.ApiClient", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    subtotal = models.DecimalField(max_digits=12, decimal_places=2)
    discount_total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    # What the server priced, when an offline sale was recorded with the client's total.
    server_total = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    # Codes filled in by the loyalty and staff-binding issues.
    member = models.CharField(max_length=40, null=True, blank=True, db_index=True)
    associate = models.CharField(max_length=40, null=True, blank=True)
    attribution = models.CharField(max_length=10, null=True, blank=True)
    points_earned = models.IntegerField(default=0)
    points_redeemed = models.IntegerField(default=0)
    offline = models.BooleanField(default=False)
    needs_review = models.BooleanField(default=False)
    review_reason = models.CharField(max_length=255, blank=True)
    # A sale made as the new half of an exchange.
    exchange_of = models.ForeignKey(
        "sales.Return", null=True, blank=True, on_delete=models.PROTECT, related_name="exchanges"
    )
    pickup_expires_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "client_id"],
                condition=Q(client_id__isnull=False),
                name="order_client_id_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["location", "-occurred_at"], name="order_location_time"),
            models.Index(fields=["-occurred_at"], name="order_time"),
            models.Index(fields=["status", "pickup_expires_at"], name="order_pickup_expiry"),
            # Dashboard: online orders collected at a store today.
            models.Index(fields=["location", "closed_at"], name="order_location_closed"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_pickup_open(self) -> bool:
        return self.status in (self.Status.RESERVED, self.Status.READY)


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    variant = models.ForeignKey("catalog.Variant", on_delete=models.PROTECT, related_name="+")
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=255, blank=True)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    discount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    lot = models.CharField(max_length=64, blank=True)
    serials = models.JSONField(default=list, blank=True)
    # Kept under the line's row lock by returns, so returns never exceed what was sold.
    quantity_returned = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order_id", "position"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity_returned__lte=models.F("quantity")),
                name="order_line_returned_within_sold",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} x{self.quantity}"


class Payment(models.Model):
    class Method(models.TextChoices):
        CASH = "cash", "Cash"
        CARD = "card", "Card"
        STORE_CREDIT = "store_credit", "Store credit"
        VOUCHER = "voucher", "Voucher"
        OTHER = "other", "Other"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="payments")
    method = models.CharField(max_length=20, choices=Method.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    reference = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["id"]


class Return(models.Model):
    """Goods of one sale brought back at some location (maybe not the selling one)."""

    number = models.CharField(max_length=30, unique=True)
    sale = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="returns")
    location = models.ForeignKey("stores.Location", on_delete=models.PROTECT, related_name="+")
    client_id = models.UUIDField(null=True, blank=True)
    created_by = models.ForeignKey(
        "accounts.ApiClient", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=255, blank=True)
    restock = models.BooleanField(default=True)
    refund_total = models.DecimalField(max_digits=12, decimal_places=2)
    points_reversed = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "client_id"],
                condition=Q(client_id__isnull=False),
                name="return_client_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class ReturnLine(models.Model):
    return_record = models.ForeignKey(Return, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    restocked = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]


class Refund(models.Model):
    return_record = models.ForeignKey(Return, on_delete=models.CASCADE, related_name="refunds")
    method = models.CharField(max_length=20, choices=Payment.Method.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    reference = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["id"]
