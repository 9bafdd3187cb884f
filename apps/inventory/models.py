"""Stock levels and the append-only movement ledger (ARCHITECTURE rules 1 and 2).

A StockLevel's on_hand and reserved change only in the transaction that appends the
Movement rows explaining the change, so for every level the sums of its ledger equal
its balances (`manage.py check_stock` verifies it).
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

# The reference type of the ledger rows a spreadsheet import writes (reference_id: the
# job's id). Nothing looks them up by reference, so movement_reference leaves them out.
IMPORT_REFERENCE_TYPE = "import"


class StockLevel(models.Model):
    # No foreign key constraint: a variant is never deleted (no service does, the admin
    # is read-only), every writer creates levels for variants it read or inserted, and
    # check_stock reports a level whose variant is missing. The deferred check cost
    # every new level at COMMIT (100,000 in a first catalog import, ~1 s of the server).
    variant = models.ForeignKey(
        "catalog.Variant",
        on_delete=models.PROTECT,
        related_name="stock_levels",
        db_constraint=False,
    )
    # No foreign key constraint either (its deferred check cost every new level at
    # COMMIT, 300,000 in a first catalog import at 3 locations): whoever creates a level
    # locks its location's row FOR KEY SHARE and refuses an unknown one (ledger
    # levels_lock, ledger_bulk), location_delete locks that row before Django's PROTECT
    # check, which therefore sees every level, and check_stock reports a level whose
    # location is missing. No index of its own: stock_level_unique and
    # stock_level_location_seq lead with it, and a level's row is rewritten (every
    # index) by each stock change.
    location = models.ForeignKey(
        "stores.Location",
        on_delete=models.PROTECT,
        related_name="stock_levels",
        db_index=False,
        db_constraint=False,
    )
    on_hand = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    available = models.GeneratedField(
        expression=F("on_hand") - F("reserved"), output_field=models.IntegerField(), db_persist=True
    )
    reorder_point = models.IntegerField(default=0)
    # Copy of the location's stock policy, so the database itself can refuse a negative
    # balance where it is forbidden (a CHECK cannot look at another table).
    negative_allowed = models.BooleanField(default=True)
    # Sequence number, on the location's event stream, of this level's last change.
    seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["location", "variant"], name="stock_level_unique"),
            models.CheckConstraint(
                condition=Q(reserved__gte=0), name="stock_reserved_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(negative_allowed=True) | Q(on_hand__gte=F("reserved")),
                name="stock_reserved_within_on_hand",
            ),
            models.CheckConstraint(
                condition=Q(reorder_point__gte=0), name="stock_reorder_point_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["location", "seq"], name="stock_level_location_seq"),
            # The stock screen's low-stock filter and its count: only the few levels at
            # or below a positive reorder point, so neither reads every level's row.
            models.Index(
                fields=["location", "variant"],
                condition=Q(reorder_point__gt=0, available__lte=F("reorder_point")),
                name="stock_level_low",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.variant_id}@{self.location_id}: {self.on_hand}/{self.reserved}"


class Movement(models.Model):
    """One signed change to a level's on hand and reserved quantities. Never updated."""

    class Reason(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        SALE = "sale", "Sale"
        RETURN = "return", "Return"
        ADJUSTMENT = "adjustment", "Adjustment"
        TRANSFER_OUT = "transfer_out", "Transfer out"
        TRANSFER_IN = "transfer_in", "Transfer in"
        RESERVATION = "reservation", "Reservation"
        RELEASE = "release", "Release"
        STOCKTAKE = "stocktake", "Stocktake"
        IMPORT = "import", "Import"
        WRITE_OFF = "write_off", "Write-off"

    # No foreign key constraint and no index: a level is never deleted (no service does,
    # the admin is read-only) and every writer takes the id of the level it locked or
    # inserted in the same transaction; check_stock reports a ledger row whose level is
    # missing. The deferred check cost every ledger row at COMMIT (~1.2 s of the server
    # in a 283,000-row import) and nothing reads the ledger by level but check_stock's
    # whole-table sums.
    level = models.ForeignKey(
        StockLevel,
        on_delete=models.PROTECT,
        related_name="movements",
        db_constraint=False,
        db_index=False,
    )
    # Denormalised from the level for history filters without a join: always the level's
    # own variant and location (every writer copies them from the level; check_stock
    # verifies it). No foreign key constraint of their own: the level guarantees them
    # (see above), and each
    # deferred check costs every ledger row at COMMIT (600,000 checks in a 100,000-row
    # import). No index of their own either: movement_variant_time and
    # movement_location_time lead with them, and every index is paid by each ledger row
    # written inside the stock locks.
    variant = models.ForeignKey(
        "catalog.Variant",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    location = models.ForeignKey(
        "stores.Location",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    delta_on_hand = models.IntegerField(default=0)
    delta_reserved = models.IntegerField(default=0)
    on_hand_after = models.IntegerField()
    reserved_after = models.IntegerField()
    reason = models.CharField(max_length=20, choices=Reason.choices)
    # What caused it: ("sale", "S01-000123"), ("transfer", "12"), ("import", "7") ...
    reference_type = models.CharField(max_length=30, blank=True)
    reference_id = models.CharField(max_length=64, blank=True)
    # Mostly empty (a movement has a user or a client, rarely a lot): indexed only where
    # set (movement_actor_user/_client, movement_lot), for the PROTECT checks on delete.
    # No foreign key constraints: PostgreSQL queues the deferred check of each for every
    # ledger row, even a NULL one (0.35 s at COMMIT for 283,000 rows), and a set one
    # costs a lookup each (~0.9 s for an import by a user). The writer takes the actor
    # from the request's authenticated principal and the lot from a row it read or
    # created; a user, client or lot with ledger rows is still refused deletion by
    # Django's PROTECT check (a lot is never deleted: its admin is read-only; a client is
    # revoked, not deleted), and check_stock reports a ledger row whose actor or lot is
    # missing.
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    actor_client = models.ForeignKey(
        "accounts.ApiClient",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    lot = models.ForeignKey(
        "inventory.Lot",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    serial = models.CharField(max_length=100, blank=True)
    note = models.CharField(max_length=255, blank=True)
    seq = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["location", "-created_at"], name="movement_location_time"),
            models.Index(fields=["variant", "-created_at"], name="movement_variant_time"),
            # An order's movements are found by reference (sales selectors); an import's
            # never are, and a catalog import writes hundreds of thousands of rows that
            # all share one reference: left out, they cost this index nothing.
            models.Index(
                fields=["reference_type", "reference_id"],
                condition=~Q(reference_type=IMPORT_REFERENCE_TYPE),
                name="movement_reference",
            ),
            models.Index(
                fields=["actor_user"],
                condition=Q(actor_user__isnull=False),
                name="movement_actor_user",
            ),
            models.Index(
                fields=["actor_client"],
                condition=Q(actor_client__isnull=False),
                name="movement_actor_client",
            ),
            models.Index(fields=["lot"], condition=Q(lot__isnull=False), name="movement_lot"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(delta_on_hand=0) | ~Q(delta_reserved=0),
                name="movement_changes_something",
            ),
        ]

    def __str__(self) -> str:
        deltas = f"{self.delta_on_hand:+d}/{self.delta_reserved:+d}"
        return f"{self.reason} {deltas} @ level {self.level_id}"


class Lot(models.Model):
    variant = models.ForeignKey("catalog.Variant", on_delete=models.PROTECT, related_name="lots")
    code = models.CharField(max_length=64)
    expires_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = [F("expires_on").asc(nulls_last=True), "code"]
        constraints = [models.UniqueConstraint(fields=["variant", "code"], name="lot_unique")]

    def __str__(self) -> str:
        return f"{self.code} (exp. {self.expires_on})"


class LotLevel(models.Model):
    """How much of one lot is at one location; sums to the level's on hand."""

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="levels")
    location = models.ForeignKey("stores.Location", on_delete=models.PROTECT, related_name="+")
    on_hand = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lot", "location"], name="lot_level_unique")]


class Serial(models.Model):
    """A serial-tracked unit: in exactly one place at a time."""

    class Status(models.TextChoices):
        IN_STOCK = "in_stock", "In stock"
        IN_TRANSIT = "in_transit", "In transit"
        SOLD = "sold", "Sold"
        WRITTEN_OFF = "written_off", "Written off"

    variant = models.ForeignKey("catalog.Variant", on_delete=models.PROTECT, related_name="serials")
    number = models.CharField(max_length=100)
    location = models.ForeignKey(
        "stores.Location", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.IN_STOCK)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["variant", "number"], name="serial_unique")]

    def __str__(self) -> str:
        return self.number


class Transfer(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SHIPPED = "shipped", "Shipped"
        RECEIVED = "received", "Received"
        CANCELLED = "cancelled", "Cancelled"

    number = models.CharField(max_length=30, unique=True)
    source = models.ForeignKey(
        "stores.Location", on_delete=models.PROTECT, related_name="transfers_out"
    )
    destination = models.ForeignKey(
        "stores.Location", on_delete=models.PROTECT, related_name="transfers_in"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    note = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(source=F("destination")), name="transfer_not_to_itself"
            ),
        ]

    def __str__(self) -> str:
        return self.number


class TransferLine(models.Model):
    transfer = models.ForeignKey(Transfer, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey("catalog.Variant", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    quantity_received = models.PositiveIntegerField(null=True, blank=True)
    lot = models.ForeignKey(Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    serials = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["transfer", "variant", "lot"], name="transfer_line_unique"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="transfer_line_quantity_positive"
            ),
        ]


class Stocktake(models.Model):
    class Status(models.TextChoices):
        COUNTING = "counting", "Counting"
        POSTED = "posted", "Posted"
        CANCELLED = "cancelled", "Cancelled"

    number = models.CharField(max_length=30, unique=True)
    location = models.ForeignKey(
        "stores.Location", on_delete=models.PROTECT, related_name="stocktakes"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.COUNTING)
    note = models.CharField(max_length=255, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    posted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return self.number


class StocktakeLine(models.Model):
    """One variant's count. `expected` is the level's on hand when the count was
    entered; posting writes counted - expected, so sales made while the count runs are
    neither lost nor counted twice."""

    stocktake = models.ForeignKey(Stocktake, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey("catalog.Variant", on_delete=models.PROTECT, related_name="+")
    counted = models.PositiveIntegerField(default=0)
    expected = models.IntegerField(default=0)
    counted_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stocktake", "variant"], name="stocktake_line_unique"),
        ]


class StockAlert(models.Model):
    """Available fell to or below the reorder point: one open alert per level until it
    recovers, not one per sale."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    level = models.ForeignKey(StockLevel, on_delete=models.CASCADE, related_name="alerts")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    available_when_raised = models.IntegerField()
    reorder_point = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["level"], condition=Q(status="open"), name="stock_alert_one_open_per_level"
            ),
        ]


class Discrepancy(models.Model):
    """A POS sale took more than the system count: recorded (the shelf is the truth),
    and raised here for a manager to review."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        REVIEWED = "reviewed", "Reviewed"

    level = models.ForeignKey(StockLevel, on_delete=models.PROTECT, related_name="discrepancies")
    # None where the location forbids negative stock and on hand was already at zero.
    movement = models.ForeignKey(
        Movement, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reference_type = models.CharField(max_length=30, blank=True)
    reference_id = models.CharField(max_length=64, blank=True)
    quantity_short = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
