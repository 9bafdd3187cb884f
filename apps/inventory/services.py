"""Stock-changing business actions: receive, adjust, reserve, release, collect, sell,
restock, and the reorder point. Each is one transaction that validates everything
first, then changes stock only through `ledger.stock_apply`; on any error nothing is
changed.

`actor` is who acts: a back-office User, an ApiClient (POS device or integration), an
`ledger.Actor` (a caller that already checked scope, e.g. an import job), or None (the
system). Users and devices are scoped here (ARCHITECTURE rule 6): a user must see the
location (NotFound otherwise), and manage it to receive or adjust (PermissionDenied); a
POS device acts only for its own location (ForbiddenLocation).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.catalog.models import Variant
from apps.core.errors import (
    ForbiddenLocation,
    InsufficientStock,
    NotFound,
    PermissionDenied,
    UnknownSku,
    ValidationFailed,
)
from apps.stores.models import Location
from apps.stores.selectors import location_list_managed, location_list_visible

from .alerts import alerts_evaluate
from .ledger import (
    QUANTITY_MAX,
    Actor,
    AppliedStock,
    Reason,
    StockChange,
    levels_lock,
    stock_apply,
    stock_apply_alone,
)
from .models import Discrepancy, Lot, LotLevel, Serial, StockLevel

Tracking = Variant.Tracking
# The lot that takes lot-tracked goods whose lot nobody knows (a POS sale or a return
# that names none, where the location holds no lot), so lot levels still sum to the level.
UNKNOWN_LOT = "UNKNOWN"


@dataclass(frozen=True)
class SellLine:
    variant: Variant
    quantity: int
    lot_code: str | None = None
    serials: Sequence[str] = field(default_factory=tuple)


# --- input checks -------------------------------------------------------------------


def _quantity(value, field_name: str = "quantity", *, signed: bool = False) -> int:
    """A whole, positive number of units (or non-zero where `signed`), at most
    QUANTITY_MAX units either way."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed.for_field(field_name, "The quantity must be a whole number.")
    if abs(value) > QUANTITY_MAX:
        raise ValidationFailed.for_field(
            field_name, f"The quantity must be at most {QUANTITY_MAX:,} units."
        )
    if signed and value == 0:
        raise ValidationFailed.for_field(field_name, "The change must not be zero.")
    if not signed and value <= 0:
        raise ValidationFailed.for_field(field_name, "The quantity must be at least 1.")
    return value


def _location(location) -> Location:
    if isinstance(location, Location) and location.pk:
        return location
    if isinstance(location, str):
        found = Location.objects.filter(code=location).first()
        if found:
            return found
    raise NotFound(f"No location {location!r}.")


def _variant(variant, field_name: str = "sku") -> Variant:
    if isinstance(variant, Variant) and variant.pk:
        return variant
    if isinstance(variant, str):
        found = Variant.objects.filter(sku=variant).first()
        if found:
            return found
    raise UnknownSku.for_field(field_name, f"Unknown SKU {variant!r}.", code="unknown_sku")


def _scope(actor, location: Location, *, manage: bool) -> Actor:
    """Check that `actor` may change stock at `location`; return it as a ledger Actor."""
    if actor is None or isinstance(actor, Actor):
        return actor or Actor()
    if getattr(actor, "is_api_client", False):
        if manage:
            raise PermissionDenied("An API client may not do this.")
        if actor.location_id is not None and actor.location_id != location.pk:
            raise ForbiddenLocation()
        return Actor.of(actor)
    if not location_list_visible(actor).filter(pk=location.pk).exists():
        raise NotFound(f"No location {location.code!r}.")
    if manage and not location_list_managed(actor).filter(pk=location.pk).exists():
        raise PermissionDenied("Only a manager of this location may change its stock.")
    return Actor.of(actor)


def _lines(lines, *, allow_lot_serial: bool) -> list[SellLine]:
    """Normalise (variant, quantity) tuples or SellLines, checking every line."""
    checked = []
    if not lines:
        raise ValidationFailed.for_field("lines", "At least one line is required.")
    for index, line in enumerate(lines):
        if isinstance(line, SellLine):
            variant, quantity = line.variant, line.quantity
            lot_code, serials = line.lot_code, tuple(line.serials or ())
        else:
            variant, quantity = line
            lot_code, serials = None, ()
        variant = _variant(variant, f"lines.{index}.sku")
        quantity = _quantity(quantity, f"lines.{index}.quantity")
        if not allow_lot_serial and (lot_code or serials):
            raise ValidationFailed.for_field(f"lines.{index}", "Lots and serials do not apply.")
        checked.append(SellLine(variant, quantity, lot_code or None, serials))
    return checked


# --- lots and serials ---------------------------------------------------------------


def _lot_named(variant: Variant, code: str, field_name: str) -> Lot:
    lot = Lot.objects.filter(variant=variant, code=code).first()
    if lot is None:
        raise ValidationFailed.for_field(field_name, f"{variant.sku} has no lot {code!r}.")
    return lot


def _lot_unknown(variant: Variant) -> Lot:
    Lot.objects.bulk_create([Lot(variant=variant, code=UNKNOWN_LOT)], ignore_conflicts=True)
    return Lot.objects.get(variant=variant, code=UNKNOWN_LOT)


def _lots_take(location: Location, variant: Variant, quantity: int) -> list[tuple[int, int]]:
    """(lot_id, units) taking `quantity` first-expiring first; the caller holds the level
    lock. What the lots do not cover goes to the last lot taken from (it goes negative
    with the level: a short POS sale)."""
    taken: list[tuple[int, int]] = []
    remaining = quantity
    holdings = (
        LotLevel.objects.filter(location=location, lot__variant=variant, on_hand__gt=0)
        .select_related("lot")
        .order_by(F("lot__expires_on").asc(nulls_last=True), "lot__code")
    )
    for holding in holdings:
        units = min(holding.on_hand, remaining)
        taken.append((holding.lot_id, units))
        remaining -= units
        if not remaining:
            return taken
    if taken:
        lot_id, units = taken[-1]
        taken[-1] = (lot_id, units + remaining)
    else:
        taken.append((_lot_unknown(variant).pk, remaining))
    return taken


def _lot_levels_apply(applied: AppliedStock) -> None:
    """Move lot levels by what the ledger actually recorded for each lot."""
    deltas: dict[tuple[int, int], int] = defaultdict(int)
    for movement in applied.movements:
        if movement.lot_id and movement.delta_on_hand:
            deltas[(movement.lot_id, movement.location_id)] += movement.delta_on_hand
    if not deltas:
        return
    LotLevel.objects.bulk_create(
        [LotLevel(lot_id=lot_id, location_id=location_id) for lot_id, location_id in deltas],
        ignore_conflicts=True,
    )
    for (lot_id, location_id), delta in sorted(deltas.items()):
        if delta:
            LotLevel.objects.filter(lot_id=lot_id, location_id=location_id).update(
                on_hand=F("on_hand") + delta
            )


def _serials_check(numbers: Sequence[str], quantity: int, field_name: str) -> list[str]:
    numbers = [str(n).strip() for n in numbers]
    if len(numbers) != quantity or any(not n for n in numbers):
        raise ValidationFailed.for_field(
            field_name, f"Exactly {quantity} serial number(s) are required."
        )
    if len(set(numbers)) != len(numbers):
        raise ValidationFailed.for_field(field_name, "A serial number is listed twice.")
    return numbers


def _serials_locked(variant: Variant, numbers: Sequence[str]) -> dict[str, Serial]:
    rows = (
        Serial.objects.select_for_update()
        .filter(variant=variant, number__in=numbers)
        .order_by("number")
    )
    return {serial.number: serial for serial in rows}


def _serials_in_stock(
    location: Location, variant: Variant, numbers: Sequence[str], field_name: str
) -> list[Serial]:
    found = _serials_locked(variant, numbers)
    for number in numbers:
        serial = found.get(number)
        if (
            serial is None
            or serial.status != Serial.Status.IN_STOCK
            or serial.location_id != location.pk
        ):
            raise ValidationFailed.for_field(
                field_name, f"Serial {number} of {variant.sku} is not in stock at {location.code}."
            )
    return [found[number] for number in numbers]


def _serials_arrive(location: Location, variant: Variant, numbers: Sequence[str]) -> None:
    """Serials come (back) in stock here: new ones are created; sold or written-off ones
    return; one that is in stock or in transit somewhere must not be here too."""
    found = _serials_locked(variant, numbers)
    for number in numbers:
        serial = found.get(number)
        if serial is not None and serial.status in (
            Serial.Status.IN_STOCK,
            Serial.Status.IN_TRANSIT,
        ):
            raise ValidationFailed.for_field(
                "serials", f"Serial {number} of {variant.sku} is already in stock elsewhere."
            )
    Serial.objects.bulk_create(
        [Serial(variant=variant, number=n, location=location) for n in numbers if n not in found]
    )
    Serial.objects.filter(pk__in=[s.pk for s in found.values()]).update(
        status=Serial.Status.IN_STOCK, location=location
    )


# --- services -----------------------------------------------------------------------


def stock_receive(
    *,
    location: Location,
    variant: Variant,
    quantity: int,
    actor,
    lot_code: str | None = None,
    expires_on: date | None = None,
    serials: Sequence[str] = (),
    reference_type: str = "receipt",
    reference_id: str = "",
) -> AppliedStock:
    """Goods arrive at a location (into a lot, or as serial numbers, where tracked).

    Raises ValidationFailed, NotFound, UnknownSku, PermissionDenied, ForbiddenLocation.
    """
    location, variant = _location(location), _variant(variant)
    quantity = _quantity(quantity)
    ledger_actor = _scope(actor, location, manage=True)
    if variant.tracking == Tracking.NONE and not (lot_code or expires_on or serials):
        applied = stock_apply_alone(
            changes=[StockChange(variant.pk, location.pk, Reason.RECEIPT, on_hand=quantity)],
            actor=ledger_actor,
            reference_type=reference_type,
            reference_id=str(reference_id),
        )
        if applied is not None:
            return applied
    return _receive(
        location=location,
        variant=variant,
        quantity=quantity,
        ledger_actor=ledger_actor,
        lot_code=lot_code,
        expires_on=expires_on,
        serials=serials,
        reference_type=reference_type,
        reference_id=reference_id,
    )


@transaction.atomic
def _receive(
    *,
    location: Location,
    variant: Variant,
    quantity: int,
    ledger_actor: Actor,
    lot_code: str | None,
    expires_on: date | None,
    serials: Sequence[str],
    reference_type: str,
    reference_id: str,
) -> AppliedStock:
    lot_code = (lot_code or "").strip() or None
    lot_id = None
    if variant.tracking == Tracking.LOT:
        if not lot_code:
            raise ValidationFailed.for_field("lot_code", f"{variant.sku} is received into a lot.")
        lot, created = Lot.objects.get_or_create(
            variant=variant, code=lot_code, defaults={"expires_on": expires_on}
        )
        if not created and expires_on and lot.expires_on and lot.expires_on != expires_on:
            raise ValidationFailed.for_field(
                "expires_on", f"Lot {lot_code} expires on {lot.expires_on}, not {expires_on}."
            )
        if not created and expires_on and not lot.expires_on:
            Lot.objects.filter(pk=lot.pk).update(expires_on=expires_on)
        lot_id = lot.pk
    elif lot_code or expires_on:
        raise ValidationFailed.for_field("lot_code", f"{variant.sku} does not track lots.")
    if variant.tracking == Tracking.SERIAL:
        numbers = _serials_check(serials, quantity, "serials")
        _serials_arrive(location, variant, numbers)
        changes = [
            StockChange(variant.pk, location.pk, Reason.RECEIPT, on_hand=1, serial=number)
            for number in numbers
        ]
    elif serials:
        raise ValidationFailed.for_field("serials", f"{variant.sku} does not track serials.")
    else:
        changes = [
            StockChange(variant.pk, location.pk, Reason.RECEIPT, on_hand=quantity, lot_id=lot_id)
        ]
    applied = stock_apply(
        changes=changes,
        actor=ledger_actor,
        reference_type=reference_type,
        reference_id=str(reference_id),
    )
    _lot_levels_apply(applied)
    return applied


@transaction.atomic
def stock_adjust(
    *,
    location: Location,
    variant: Variant,
    delta: int,
    reason: str = "adjustment",
    note: str = "",
    actor,
    lot_code: str | None = None,
    serials: Sequence[str] = (),
) -> AppliedStock:
    """A manager corrects on hand (adjustment) or writes goods off (write_off, negative
    only). On hand never goes below what is reserved (InsufficientStock). Lot-tracked
    goods come off the named lot or first-expiring first; serial-tracked ones need their
    serial numbers.

    Raises ValidationFailed, NotFound, UnknownSku, PermissionDenied, InsufficientStock.
    """
    location, variant = _location(location), _variant(variant)
    delta = _quantity(delta, "delta", signed=True)
    if reason not in (Reason.ADJUSTMENT, Reason.WRITE_OFF):
        raise ValidationFailed.for_field("reason", "The reason is adjustment or write_off.")
    if reason == Reason.WRITE_OFF and delta > 0:
        raise ValidationFailed.for_field("delta", "A write-off takes stock away.")
    note = (note or "").strip()[:255]
    ledger_actor = _scope(actor, location, manage=True)
    changes = _tracked_changes(location, variant, delta, reason, lot_code, serials, note=note)
    applied = stock_apply(
        changes=changes, actor=ledger_actor, reference_type="adjustment", reference_id=""
    )
    _lot_levels_apply(applied)
    return applied


def _tracked_changes(
    location: Location,
    variant: Variant,
    delta: int,
    reason: str,
    lot_code: str | None,
    serials: Sequence[str],
    *,
    note: str = "",
    field_prefix: str = "",
) -> list[StockChange]:
    """The StockChanges for a signed change of one variant, by lot or serial if tracked."""
    lot_field, serial_field = f"{field_prefix}lot_code", f"{field_prefix}serials"
    if variant.tracking == Tracking.SERIAL:
        numbers = _serials_check(serials, abs(delta), serial_field)
        if delta < 0:
            for serial in _serials_in_stock(location, variant, numbers, serial_field):
                serial.status = (
                    Serial.Status.SOLD if reason == Reason.SALE else Serial.Status.WRITTEN_OFF
                )
                serial.location = None if reason == Reason.SALE else location
                serial.save(update_fields=["status", "location", "updated_at"])
        else:
            _serials_arrive(location, variant, numbers)
        step = 1 if delta > 0 else -1
        return [
            StockChange(variant.pk, location.pk, reason, on_hand=step, serial=n, note=note)
            for n in numbers
        ]
    if serials:
        raise ValidationFailed.for_field(serial_field, f"{variant.sku} does not track serials.")
    if variant.tracking != Tracking.LOT:
        if lot_code:
            raise ValidationFailed.for_field(lot_field, f"{variant.sku} does not track lots.")
        return [StockChange(variant.pk, location.pk, reason, on_hand=delta, note=note)]
    # Lot-tracked: the level lock first, so two sales do not both pick the same last units.
    levels_lock([(location.pk, variant.pk)])
    if lot_code:
        lot_ids = [(_lot_named(variant, lot_code, lot_field).pk, abs(delta))]
    elif delta < 0:
        lot_ids = _lots_take(location, variant, -delta)
    else:
        first = _lots_take(location, variant, 1)[0][0]
        lot_ids = [(first, delta)]
    sign = 1 if delta > 0 else -1
    return [
        StockChange(variant.pk, location.pk, reason, on_hand=sign * units, lot_id=lot_id, note=note)
        for lot_id, units in lot_ids
    ]


def _reserved_change(location, lines, actor, reference_type, reference_id, sign: int):
    """Reserve (+1) or release (-1) every line in one ledger call: on its own outside a
    transaction where it can (`stock_apply_alone`), otherwise in one."""
    location = _location(location)
    checked = _lines(lines, allow_lot_serial=False)
    ledger_actor = _scope(actor, location, manage=False)
    reason = Reason.RESERVATION if sign > 0 else Reason.RELEASE
    changes = _reservation_changes(location, checked, reason, on_hand=0, reserved=sign)
    reference_id = str(reference_id)
    applied = stock_apply_alone(
        changes=changes,
        actor=ledger_actor,
        reference_type=reference_type,
        reference_id=reference_id,
    )
    if applied is not None:
        return applied
    with transaction.atomic():
        return stock_apply(
            changes=changes,
            actor=ledger_actor,
            reference_type=reference_type,
            reference_id=reference_id,
        )


def _reservation_changes(
    location: Location, lines: list[SellLine], reason: str, *, on_hand: int, reserved: int
) -> list[StockChange]:
    totals: dict[int, int] = defaultdict(int)
    for line in lines:
        totals[line.variant.pk] += line.quantity
    return [
        StockChange(
            variant_id, location.pk, reason, on_hand=on_hand * units, reserved=reserved * units
        )
        for variant_id, units in sorted(totals.items())
    ]


def stock_reserve(
    *,
    location: Location,
    lines: Sequence[tuple[Variant, int]],
    actor,
    reference_type: str,
    reference_id: str,
) -> AppliedStock:
    """Reserve every line or none; never more than is available, whatever the location's
    policy. Raises InsufficientStock with extra {"lines": [{"sku", "requested",
    "available"}]}, ValidationFailed, NotFound, UnknownSku, ForbiddenLocation."""
    return _reserved_change(location, lines, actor, reference_type, reference_id, +1)


def stock_release(
    *,
    location: Location,
    lines: Sequence[tuple[Variant, int]],
    actor,
    reference_type: str,
    reference_id: str,
) -> AppliedStock:
    """Give reserved units back to available (a cancelled or expired order).
    Raises ValidationFailed (more than is reserved), NotFound, UnknownSku."""
    return _reserved_change(location, lines, actor, reference_type, reference_id, -1)


@transaction.atomic
def stock_collect(
    *,
    location: Location,
    lines: Sequence[tuple[Variant, int]],
    actor,
    reference_type: str,
    reference_id: str,
) -> AppliedStock:
    """A reservation becomes a sale: on hand and reserved both go down, one movement per
    line (reason sale). Raises ValidationFailed (more than is reserved), NotFound."""
    location = _location(location)
    checked = _lines(lines, allow_lot_serial=False)
    ledger_actor = _scope(actor, location, manage=False)
    changes = _reservation_changes(location, checked, Reason.SALE, on_hand=-1, reserved=-1)
    variants = {line.variant.pk: line.variant for line in checked}
    lot_tracked = [c for c in changes if variants[c.variant_id].tracking == Tracking.LOT]
    if lot_tracked:
        # Collected lot goods leave their lots first-expiring first.
        levels_lock([(location.pk, c.variant_id) for c in lot_tracked])
        split = []
        for change in changes:
            if variants[change.variant_id].tracking != Tracking.LOT:
                split.append(change)
                continue
            for lot_id, units in _lots_take(location, variants[change.variant_id], -change.on_hand):
                split.append(
                    StockChange(
                        change.variant_id,
                        location.pk,
                        Reason.SALE,
                        on_hand=-units,
                        reserved=-units,
                        lot_id=lot_id,
                    )
                )
        changes = split
    applied = stock_apply(
        changes=changes,
        actor=ledger_actor,
        reference_type=reference_type,
        reference_id=str(reference_id),
    )
    _lot_levels_apply(applied)
    return applied


def stock_sell(
    *,
    location: Location,
    lines: Sequence[SellLine],
    actor,
    reference_type: str,
    reference_id: str,
) -> AppliedStock:
    """A POS sale of goods already in the customer's hand: always recorded; a shortfall
    raises a Discrepancy and the location's policy decides whether on hand goes negative.
    Lot-tracked goods leave the named lot or the first-expiring ones; serial-tracked
    lines need exactly `quantity` serials in stock here, which become sold.

    Raises ValidationFailed (field errors name the line and serial), NotFound,
    UnknownSku, ForbiddenLocation.
    """
    location = _location(location)
    checked = _lines(lines, allow_lot_serial=True)
    ledger_actor = _scope(actor, location, manage=False)
    if all(
        line.variant.tracking == Tracking.NONE and not line.lot_code and not line.serials
        for line in checked
    ):
        # Untracked goods: no lot or serial to pick, so the sale may be one statement.
        applied = stock_apply_alone(
            changes=[
                StockChange(line.variant.pk, location.pk, Reason.SALE, on_hand=-line.quantity)
                for line in checked
            ],
            actor=ledger_actor,
            reference_type=reference_type,
            reference_id=str(reference_id),
        )
        if applied is not None:
            return applied
    return _sell(location, checked, ledger_actor, reference_type, reference_id)


@transaction.atomic
def _sell(
    location: Location,
    checked: list[SellLine],
    ledger_actor: Actor,
    reference_type: str,
    reference_id: str,
) -> AppliedStock:
    changes: list[StockChange] = []
    for index, line in enumerate(checked):
        changes += _tracked_changes(
            location,
            line.variant,
            -line.quantity,
            Reason.SALE,
            line.lot_code,
            line.serials,
            field_prefix=f"lines.{index}.",
        )
    applied = stock_apply(
        changes=changes,
        actor=ledger_actor,
        reference_type=reference_type,
        reference_id=str(reference_id),
        allow_short=True,
    )
    _lot_levels_apply(applied)
    return applied


@transaction.atomic
def stock_restock(
    *,
    location: Location,
    lines: Sequence[SellLine],
    actor,
    reference_type: str,
    reference_id: str,
    damaged: bool = False,
) -> AppliedStock:
    """Returned goods come back at the returning location (reason return); damaged ones
    are then written off, so the ledger tells both steps. Serials come back in stock
    here (then written off if damaged); lot goods go back into the named lot.

    Raises ValidationFailed, NotFound, UnknownSku, ForbiddenLocation.
    """
    location = _location(location)
    checked = _lines(lines, allow_lot_serial=True)
    ledger_actor = _scope(actor, location, manage=False)
    changes: list[StockChange] = []
    for index, line in enumerate(checked):
        back = _tracked_changes(
            location,
            line.variant,
            line.quantity,
            Reason.RETURN,
            line.lot_code,
            line.serials,
            field_prefix=f"lines.{index}.",
        )
        changes += back
        if damaged:
            changes += [
                StockChange(
                    c.variant_id,
                    c.location_id,
                    Reason.WRITE_OFF,
                    on_hand=-c.on_hand,
                    lot_id=c.lot_id,
                    serial=c.serial,
                    note="returned damaged",
                )
                for c in back
            ]
            if line.variant.tracking == Tracking.SERIAL:
                Serial.objects.filter(variant=line.variant, number__in=line.serials).update(
                    status=Serial.Status.WRITTEN_OFF
                )
    applied = stock_apply(
        changes=changes,
        actor=ledger_actor,
        reference_type=reference_type,
        reference_id=str(reference_id),
        allow_short=True,
    )
    _lot_levels_apply(applied)
    return applied


@transaction.atomic
def stock_reorder_point_set(
    *, location: Location, variant: Variant, reorder_point: int, actor
) -> StockLevel:
    """Set when a level counts as low (0: never); opens or resolves its alert now.

    Raises ValidationFailed, NotFound, UnknownSku, PermissionDenied."""
    location, variant = _location(location), _variant(variant)
    if isinstance(reorder_point, bool) or not isinstance(reorder_point, int) or reorder_point < 0:
        raise ValidationFailed.for_field(
            "reorder_point", "The reorder point is a whole number, zero or more."
        )
    _scope(actor, location, manage=True)
    if getattr(actor, "is_api_client", False):
        raise PermissionDenied("An API client may not do this.")
    level = levels_lock([(location.pk, variant.pk)])[(location.pk, variant.pk)]
    StockLevel.objects.filter(pk=level.pk).update(reorder_point=reorder_point)
    level.reorder_point = reorder_point
    alerts_evaluate([level.pk])
    return level


def insufficient_lines(error: InsufficientStock) -> list[dict]:
    """The {"sku", "requested", "available"} lines of an InsufficientStock error."""
    return list(error.extra.get("lines", []))


@transaction.atomic
def discrepancy_review(*, discrepancy: Discrepancy, actor) -> Discrepancy:
    """A manager of the discrepancy's location marks it reviewed; safe to repeat.

    Raises PermissionDenied (not a manager there), NotFound (a location not visible)."""
    locked = Discrepancy.objects.select_for_update().select_related("level__location")
    discrepancy = locked.get(pk=discrepancy.pk)
    location = discrepancy.level.location
    if not location_list_visible(actor).filter(pk=location.pk).exists():
        raise NotFound("No such discrepancy.")
    if not location_list_managed(actor).filter(pk=location.pk).exists():
        raise PermissionDenied("Only a manager of this location may review its discrepancies.")
    if discrepancy.status == Discrepancy.Status.REVIEWED:
        return discrepancy
    discrepancy.status = Discrepancy.Status.REVIEWED
    discrepancy.reviewed_by = actor
    discrepancy.reviewed_at = timezone.now()
    discrepancy.save(update_fields=["status", "reviewed_by", "reviewed_at"])
    return discrepancy
