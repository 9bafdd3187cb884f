"""Verify ARCHITECTURE rule 1 for stock: every level equals the sum of its ledger, and
the lots of a lot-tracked level add up to its on hand; every ledger row names an
existing level and that level's own variant and location, and an existing actor and lot
where it names one; every level an existing variant and location (none of these has a
foreign key constraint: see Movement and StockLevel). Exits non-zero naming the rows."""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Exists, F, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from apps.accounts.models import ApiClient, User
from apps.catalog.models import Variant
from apps.inventory.models import Lot, LotLevel, Movement, StockLevel
from apps.stores.models import Location


def ledger_mismatches():
    """Levels whose balances differ from their ledger sums: one GROUP BY query."""
    return (
        StockLevel.objects.annotate(
            ledger_on_hand=Coalesce(Sum("movements__delta_on_hand"), Value(0)),
            ledger_reserved=Coalesce(Sum("movements__delta_reserved"), Value(0)),
        )
        .filter(~Q(on_hand=F("ledger_on_hand")) | ~Q(reserved=F("ledger_reserved")))
        .values_list(
            "variant__sku",
            "location__code",
            "on_hand",
            "ledger_on_hand",
            "reserved",
            "ledger_reserved",
        )
        .order_by("location__code", "variant__sku")
    )


def lot_mismatches():
    """Lot-tracked levels whose lot levels do not add up to on hand: one query."""
    lots_sum = (
        LotLevel.objects.filter(lot__variant=OuterRef("variant"), location=OuterRef("location"))
        .order_by()
        .values("location")
        .annotate(total=Sum("on_hand"))
        .values("total")
    )
    return (
        StockLevel.objects.filter(variant__tracking=Variant.Tracking.LOT)
        .annotate(lots_on_hand=Coalesce(Subquery(lots_sum, output_field=IntegerField()), Value(0)))
        .exclude(on_hand=F("lots_on_hand"))
        .values_list("variant__sku", "location__code", "on_hand", "lots_on_hand")
        .order_by("location__code", "variant__sku")
    )


def movement_mismatches():
    """Ledger rows whose level is missing or has another variant or location: one
    query."""
    own_level = StockLevel.objects.filter(
        pk=OuterRef("level_id"),
        variant_id=OuterRef("variant_id"),
        location_id=OuterRef("location_id"),
    )
    return (
        Movement.objects.filter(~Exists(own_level))
        .values_list("id", "level_id", "variant_id", "location_id")
        .order_by("id")
    )


def level_orphans():
    """Levels whose variant or location is missing (no foreign key constraints: see
    StockLevel), with whether each is found: one query."""
    return (
        StockLevel.objects.annotate(
            variant_found=Exists(Variant.objects.filter(pk=OuterRef("variant_id"))),
            location_found=Exists(Location.objects.filter(pk=OuterRef("location_id"))),
        )
        .filter(Q(variant_found=False) | Q(location_found=False))
        .values_list("id", "variant_id", "location_id", "variant_found", "location_found")
        .order_by("id")
    )


def movement_orphans():
    """Ledger rows naming an actor user, actor client or lot that is missing (no foreign
    key constraints: see Movement), with whether each named one is found: one query."""
    return (
        Movement.objects.annotate(
            user_found=Exists(User.objects.filter(pk=OuterRef("actor_user_id"))),
            client_found=Exists(ApiClient.objects.filter(pk=OuterRef("actor_client_id"))),
            lot_found=Exists(Lot.objects.filter(pk=OuterRef("lot_id"))),
        )
        .filter(
            Q(actor_user_id__isnull=False, user_found=False)
            | Q(actor_client_id__isnull=False, client_found=False)
            | Q(lot_id__isnull=False, lot_found=False)
        )
        .values_list(
            "id",
            "actor_user_id",
            "actor_client_id",
            "lot_id",
            "user_found",
            "client_found",
            "lot_found",
        )
        .order_by("id")
    )


class Command(BaseCommand):
    help = "Check that every stock level equals the sum of its ledger (and of its lots)."

    def handle(self, *args, **options):
        problems = 0
        for sku, code, on_hand, ledger_on_hand, reserved, ledger_reserved in ledger_mismatches():
            problems += 1
            self.stdout.write(
                f"MISMATCH sku={sku} location={code} "
                f"on_hand={on_hand} ledger_on_hand={ledger_on_hand} "
                f"reserved={reserved} ledger_reserved={ledger_reserved}"
            )
        for sku, code, on_hand, lots_on_hand in lot_mismatches():
            problems += 1
            self.stdout.write(
                f"LOT MISMATCH sku={sku} location={code} on_hand={on_hand} lots={lots_on_hand}"
            )
        for pk, level_id, variant_id, location_id in movement_mismatches():
            problems += 1
            self.stdout.write(
                f"MOVEMENT MISMATCH id={pk} level={level_id} "
                f"variant={variant_id} location={location_id}"
            )
        for pk, variant_id, location_id, variant_found, location_found in level_orphans():
            problems += 1
            names = f"id={pk} variant={variant_id} location={location_id}"
            if not variant_found:
                self.stdout.write(f"LEVEL WITHOUT VARIANT {names}")
            if not location_found:
                self.stdout.write(f"LEVEL WITHOUT LOCATION {names}")
        for row in movement_orphans():
            problems += 1
            pk, user_id, client_id, lot_id, user_found, client_found, lot_found = row
            if user_id is not None and not user_found:
                self.stdout.write(f"MOVEMENT WITHOUT USER id={pk} user={user_id}")
            if client_id is not None and not client_found:
                self.stdout.write(f"MOVEMENT WITHOUT CLIENT id={pk} client={client_id}")
            if lot_id is not None and not lot_found:
                self.stdout.write(f"MOVEMENT WITHOUT LOT id={pk} lot={lot_id}")
        if problems:
            raise CommandError(f"{problems} stock level(s) or ledger row(s) disagree.")
        levels = StockLevel.objects.count()
        self.stdout.write(f"check_stock: {levels} stock levels match their ledger.")
