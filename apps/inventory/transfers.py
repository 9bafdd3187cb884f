"""Transfers between locations: draft -> shipped -> received, or cancelled.

Shipping takes the stock out of the source (transfer_out movements); while shipped it
is in transit (derivable from the shipped transfers' lines); receiving puts what was
actually counted into the destination (transfer_in), recording short or over on the
line. Cancelling a shipped transfer puts the stock back at the source (transfer_in at
the source). Every stock change goes through `stock_apply`.

Who may act: the managers of the source (or HQ) create, ship and cancel; the managers
of the destination (or HQ) receive. A transfer neither of whose locations the actor may
see does not exist for them (NotFound).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone

from apps.catalog.models import Variant
from apps.core.errors import (
    InsufficientStock,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    UnknownSku,
    ValidationFailed,
)
from apps.stores.models import Location
from apps.stores.selectors import location_can_manage, location_list_visible

from .ledger import QUANTITY_MAX, Actor, Reason, StockChange, levels_lock, stock_apply
from .models import LotLevel, Serial, Transfer, TransferLine

Status = Transfer.Status
REFERENCE_TYPE = "transfer"


@dataclass(frozen=True)
class LineInput:
    """One requested line: a variant (or a sku/barcode to look up) and a quantity."""

    quantity: object
    variant: Variant | None = None
    code: str = ""
    lot_id: int | None = None
    serials: tuple[str, ...] = ()


def variant_by_code(code: str) -> Variant:
    """The variant with this SKU or barcode. Raises UnknownSku."""
    code = (code or "").strip()
    if not code:
        raise UnknownSku.for_field("code", "Enter a SKU or a barcode.")
    variant = (
        Variant.objects.select_related("product")
        .filter(Q(sku=code) | Q(barcodes__code=code))
        .first()
    )
    if variant is None:
        raise UnknownSku.for_field("code", f"No SKU or barcode {code!r}.")
    return variant


def quantity_parse(value, *, field: str = "quantity", allow_zero: bool = False) -> int:
    """A whole, positive number of units (zero too where allowed), at most QUANTITY_MAX.
    Raises ValidationFailed."""
    text = str(value).strip() if value is not None else ""
    if len(text) > 12:  # int() of a huge string is slow; no valid quantity is this long
        raise ValidationFailed.for_field(field, f"Enter at most {QUANTITY_MAX:,} units.")
    try:
        number = int(text)
    except ValueError:
        raise ValidationFailed.for_field(field, "Enter a whole number of units.") from None
    if number > QUANTITY_MAX:
        raise ValidationFailed.for_field(field, f"Enter at most {QUANTITY_MAX:,} units.")
    if number < 0 or (number == 0 and not allow_zero):
        detail = "Enter zero or more units." if allow_zero else "Enter a quantity above zero."
        raise ValidationFailed.for_field(field, detail)
    return number


def transfer_list_visible(actor) -> QuerySet[Transfer]:
    """Transfers from or to a location the actor may see, newest first."""
    visible = location_list_visible(actor).values("pk")
    return (
        Transfer.objects.filter(Q(source__in=visible) | Q(destination__in=visible))
        .select_related("source", "destination")
        .annotate(units=Sum("lines__quantity"))
    )


def transfer_get_visible(actor, pk) -> Transfer:
    """Raises NotFound for a transfer the actor may not see (same as one that does not exist)."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound("No such transfer.") from None
    transfer = transfer_list_visible(actor).filter(pk=pk).first()
    if transfer is None:
        raise NotFound("No such transfer.")
    return transfer


def in_transit_by_destination(variant_ids: Sequence[int]) -> dict[tuple[int, int], int]:
    """Units shipped and not yet received, keyed by (destination_id, variant_id)."""
    rows = (
        TransferLine.objects.filter(
            transfer__status=Status.SHIPPED, variant_id__in=list(variant_ids)
        )
        .values("transfer__destination_id", "variant_id")
        .annotate(units=Sum("quantity"))
    )
    return {(r["transfer__destination_id"], r["variant_id"]): r["units"] for r in rows}


def _require_manager(actor, location: Location, *, visible_to: Sequence[Location]) -> None:
    if location_can_manage(actor, location):
        return
    if not location_list_visible(actor).filter(pk__in=[loc.pk for loc in visible_to]).exists():
        raise NotFound("No such transfer.")
    raise PermissionDenied(f"Only the managers of {location.code} may do this.")


def _lock(transfer: Transfer) -> Transfer:
    return (
        Transfer.objects.select_for_update()
        .select_related("source", "destination")
        .get(pk=transfer.pk)
    )


@transaction.atomic
def transfer_create(
    *,
    source: Location,
    destination: Location,
    lines: Sequence[LineInput],
    actor,
    note: str = "",
) -> Transfer:
    """A draft transfer. Raises ValidationFailed (to itself, no lines, bad quantity),
    UnknownSku, NotFound / PermissionDenied (not a manager of the source)."""
    if source is None or destination is None:
        raise ValidationFailed.for_field("destination", "Choose a source and a destination.")
    _require_manager(actor, source, visible_to=[source])
    if source.pk == destination.pk:
        raise ValidationFailed.for_field(
            "destination", "A transfer must go to another location than its source."
        )
    merged: dict[tuple[int, int | None], dict] = {}
    for index, line in enumerate(lines):
        try:
            variant = line.variant or variant_by_code(line.code)
            quantity = quantity_parse(line.quantity)
        except (UnknownSku, ValidationFailed) as error:
            error.errors = [{**e, "line": index} for e in error.errors]
            raise
        serials = tuple(s.strip() for s in line.serials if s.strip())
        if variant.tracking == Variant.Tracking.SERIAL and len(serials) != quantity:
            raise ValidationFailed.for_field(
                "serials", f"{variant.sku} is serial-tracked: list one serial per unit."
            )
        key = (variant.pk, line.lot_id)
        entry = merged.setdefault(key, {"variant": variant, "quantity": 0, "serials": []})
        entry["quantity"] += quantity
        entry["serials"] += list(serials)
    if not merged:
        raise ValidationFailed.for_field("lines", "Add at least one line.")
    transfer = Transfer.objects.create(
        number=f"TR-tmp-{timezone.now().timestamp()}",
        source=source,
        destination=destination,
        note=(note or "").strip()[:255],
        created_by=actor if not getattr(actor, "is_api_client", False) else None,
    )
    transfer.number = f"TR-{transfer.pk:06d}"
    transfer.save(update_fields=["number"])
    TransferLine.objects.bulk_create(
        [
            TransferLine(
                transfer=transfer,
                variant=entry["variant"],
                quantity=entry["quantity"],
                lot_id=lot_id,
                serials=entry["serials"],
            )
            for (_, lot_id), entry in sorted(
                merged.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)
            )
        ]
    )
    return transfer


def _lot_move(lot_id: int, location_id: int, delta: int) -> None:
    row = (
        LotLevel.objects.select_for_update().filter(lot_id=lot_id, location_id=location_id).first()
    )
    if row is None:
        row = LotLevel.objects.create(lot_id=lot_id, location_id=location_id, on_hand=0)
    if row.on_hand + delta < 0:
        raise InsufficientStock("Not enough of this lot at the source.")
    LotLevel.objects.filter(pk=row.pk).update(on_hand=F("on_hand") + delta)


def _serials_move(line: TransferLine, numbers: Sequence[str], *, expect: dict, to: dict) -> None:
    updated = Serial.objects.filter(variant_id=line.variant_id, number__in=list(numbers), **expect)
    if updated.update(**to) != len(set(numbers)):
        raise InsufficientStock(f"Serials of {line.variant.sku} are not where they should be.")


def _lines_by_lot(transfer: Transfer, lines: list[TransferLine]) -> list[TransferLine]:
    """Lot-tracked lines that name no lot ship first-expiring lots first: such a line
    is split into one line per lot taken, so receiving knows which lots arrive. The
    caller holds the source levels' locks. What the lots do not cover stays unlotted
    (and stock_apply refuses it if the level does not have it either)."""
    result: list[TransferLine] = []
    by_key = {(line.variant_id, line.lot_id): line for line in lines}
    for line in lines:
        if line.variant.tracking != Variant.Tracking.LOT or line.lot_id or line.serials:
            result.append(line)
            continue
        holdings = (
            LotLevel.objects.filter(
                location_id=transfer.source_id, lot__variant_id=line.variant_id, on_hand__gt=0
            )
            .select_related("lot")
            .order_by(F("lot__expires_on").asc(nulls_last=True), "lot__code")
        )
        remaining = line.quantity
        for holding in holdings:
            if not remaining:
                break
            units = min(holding.on_hand, remaining)
            remaining -= units
            existing = by_key.get((line.variant_id, holding.lot_id))
            if existing is not None:
                existing.quantity += units
                existing.save(update_fields=["quantity"])
                continue
            split = TransferLine.objects.create(
                transfer=transfer, variant=line.variant, quantity=units, lot_id=holding.lot_id
            )
            by_key[(line.variant_id, holding.lot_id)] = split
            result.append(split)
        if remaining:
            line.quantity = remaining
            line.save(update_fields=["quantity"])
            result.append(line)
        else:
            line.delete()
    return sorted(result, key=lambda item: (item.variant_id, item.pk))


@transaction.atomic
def transfer_ship(*, transfer: Transfer, actor) -> Transfer:
    """The stock leaves the source now. Raises InvalidTransition (not a draft),
    InsufficientStock (the source does not have it: nothing moves), NotFound /
    PermissionDenied."""
    transfer = _lock(transfer)
    _require_manager(actor, transfer.source, visible_to=[transfer.source, transfer.destination])
    if transfer.status != Status.DRAFT:
        raise InvalidTransition(f"{transfer.number} is {transfer.get_status_display().lower()}.")
    lines = list(transfer.lines.select_related("variant").order_by("variant_id", "pk"))
    levels_lock((transfer.source_id, line.variant_id) for line in lines)
    lines = _lines_by_lot(transfer, lines)
    changes = []
    for line in lines:
        if line.serials:
            changes += [
                StockChange(line.variant_id, transfer.source_id, Reason.TRANSFER_OUT, -1, serial=s)
                for s in line.serials
            ]
        else:
            changes.append(
                StockChange(
                    line.variant_id,
                    transfer.source_id,
                    Reason.TRANSFER_OUT,
                    on_hand=-line.quantity,
                    lot_id=line.lot_id,
                )
            )
    # A warehouse shipment is not a POS sale: it may not take more than is there.
    stock_apply(
        changes=changes,
        actor=Actor.of(actor),
        reference_type=REFERENCE_TYPE,
        reference_id=transfer.number,
    )
    for line in lines:
        if line.lot_id:
            _lot_move(line.lot_id, transfer.source_id, -line.quantity)
        if line.serials:
            _serials_move(
                line,
                line.serials,
                expect={"location_id": transfer.source_id, "status": Serial.Status.IN_STOCK},
                to={"location": None, "status": Serial.Status.IN_TRANSIT},
            )
    transfer.status = Status.SHIPPED
    transfer.shipped_at = timezone.now()
    transfer.save(update_fields=["status", "shipped_at"])
    return transfer


@transaction.atomic
def transfer_receive(*, transfer: Transfer, counts: dict[int, object], actor) -> Transfer:
    """Receive at the destination what was counted, per line id (missing = as shipped).

    transfer_in movements for the counted quantities; a short or over count stays on
    the line (`quantity_received` beside `quantity`). Serials received are the first
    `counted` of the line's list; the rest stay in transit. Raises InvalidTransition
    (not shipped), ValidationFailed (a bad count), NotFound / PermissionDenied.
    """
    transfer = _lock(transfer)
    _require_manager(
        actor, transfer.destination, visible_to=[transfer.source, transfer.destination]
    )
    if transfer.status != Status.SHIPPED:
        raise InvalidTransition(f"{transfer.number} is {transfer.get_status_display().lower()}.")
    lines = list(transfer.lines.select_related("variant").order_by("variant_id", "pk"))
    received: dict[int, int] = {}
    for line in lines:
        raw = counts.get(line.pk, counts.get(str(line.pk), line.quantity))
        received[line.pk] = quantity_parse(raw, field=f"count_{line.pk}", allow_zero=True)
        if line.serials and received[line.pk] > line.quantity:
            raise ValidationFailed.for_field(
                f"count_{line.pk}", "Serial-tracked units cannot arrive over the shipped count."
            )
    changes = []
    for line in lines:
        count = received[line.pk]
        if count == 0:
            continue
        if line.serials:
            changes += [
                StockChange(
                    line.variant_id, transfer.destination_id, Reason.TRANSFER_IN, 1, serial=s
                )
                for s in line.serials[:count]
            ]
        else:
            changes.append(
                StockChange(
                    line.variant_id,
                    transfer.destination_id,
                    Reason.TRANSFER_IN,
                    on_hand=count,
                    lot_id=line.lot_id,
                    note=f"shipped {line.quantity}" if count != line.quantity else "",
                )
            )
    if changes:
        stock_apply(
            changes=changes,
            actor=Actor.of(actor),
            reference_type=REFERENCE_TYPE,
            reference_id=transfer.number,
        )
    for line in lines:
        line.quantity_received = received[line.pk]
        if line.lot_id and line.quantity_received:
            _lot_move(line.lot_id, transfer.destination_id, line.quantity_received)
        if line.serials and line.quantity_received:
            _serials_move(
                line,
                line.serials[: line.quantity_received],
                expect={"status": Serial.Status.IN_TRANSIT},
                to={"location_id": transfer.destination_id, "status": Serial.Status.IN_STOCK},
            )
    TransferLine.objects.bulk_update(lines, ["quantity_received"])
    transfer.status = Status.RECEIVED
    transfer.received_at = timezone.now()
    transfer.save(update_fields=["status", "received_at"])
    return transfer


@transaction.atomic
def transfer_cancel(*, transfer: Transfer, actor) -> Transfer:
    """Cancel a draft (nothing moves) or a shipped transfer (its stock goes back to the
    source with a transfer_in there). Raises InvalidTransition (received or cancelled),
    NotFound / PermissionDenied (not a manager of the source)."""
    transfer = _lock(transfer)
    _require_manager(actor, transfer.source, visible_to=[transfer.source, transfer.destination])
    if transfer.status not in (Status.DRAFT, Status.SHIPPED):
        raise InvalidTransition(f"{transfer.number} is {transfer.get_status_display().lower()}.")
    if transfer.status == Status.SHIPPED:
        lines = list(transfer.lines.select_related("variant").order_by("variant_id", "pk"))
        changes = []
        for line in lines:
            if line.serials:
                changes += [
                    StockChange(
                        line.variant_id, transfer.source_id, Reason.TRANSFER_IN, 1, serial=s
                    )
                    for s in line.serials
                ]
            else:
                changes.append(
                    StockChange(
                        line.variant_id,
                        transfer.source_id,
                        Reason.TRANSFER_IN,
                        on_hand=line.quantity,
                        lot_id=line.lot_id,
                        note="cancelled in transit",
                    )
                )
        stock_apply(
            changes=changes,
            actor=Actor.of(actor),
            reference_type=REFERENCE_TYPE,
            reference_id=transfer.number,
        )
        for line in lines:
            if line.lot_id:
                _lot_move(line.lot_id, transfer.source_id, line.quantity)
            if line.serials:
                _serials_move(
                    line,
                    line.serials,
                    expect={"status": Serial.Status.IN_TRANSIT},
                    to={"location_id": transfer.source_id, "status": Serial.Status.IN_STOCK},
                )
    transfer.status = Status.CANCELLED
    transfer.save(update_fields=["status"])
    return transfer
