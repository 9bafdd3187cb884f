"""Writes to the catalog. Every variant change goes through `catalog_changes_record`.

Only HQ admins change the catalog (managers and associates read it); every service
takes the acting user and raises `PermissionDenied` for anyone else. Bad input raises
`ValidationFailed` with one entry per field, so a form can show each error under its
field and an API can return them as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from apps.core.errors import NotFound, PermissionDenied, ValidationFailed
from apps.core.events import event_append
from apps.core.money import parse_money
from apps.stores.models import Location

from .models import Barcode, Category, LocationPrice, Product, Variant

CATALOG_STREAM = "catalog"
MAX_OPTIONS = 3
CATEGORY_SEPARATOR = ">"
# What a person types as an amount: ASCII digits and one dot. No exponents ("1e3"),
# underscores ("1_000"), other scripts' digits or thousands separators.
AMOUNT_PATTERN = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)", re.ASCII)


def catalog_changes_record(*, variant_ids: Iterable[int]) -> int:
    """Move the sync cursor of these variants: one "catalog" event, whose commit-ordered
    sequence number becomes their `change_seq`. Call inside the writing transaction,
    after the rows changed. POS catalog sync pages by (change_seq, id), so a change
    committed after a cursor was issued always sorts after it. Returns the seq."""
    ids = sorted(set(variant_ids))
    if not ids:
        return 0
    event = event_append(stream=CATALOG_STREAM, type="catalog", payload={"count": len(ids)})
    Variant.objects.filter(pk__in=ids).update(change_seq=event.seq)
    return event.seq


# --- validation helpers ----------------------------------------------------------------


class _Errors:
    """Collects field errors; `raise_if_any` raises them together."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, code: str, detail: str) -> None:
        self.items.append({"field": field, "code": code, "detail": detail})

    def raise_if_any(self) -> None:
        if self.items:
            first = self.items[0]["detail"]
            raise ValidationFailed(first, errors=self.items)


def _require_hq(actor) -> None:
    if not getattr(actor, "is_hq", False):
        raise PermissionDenied("Only HQ admins change the catalog.")


def _text(errors: _Errors, field: str, value: Any, *, max_length: int, required: bool) -> str:
    text = "" if value is None else str(value).strip()
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text):
        # PostgreSQL cannot store NUL, and no catalog text needs control characters.
        errors.add(field, "invalid_characters", "Remove the control characters.")
        return ""
    if required and not text:
        errors.add(field, "required", "This field is required.")
    elif len(text) > max_length:
        errors.add(field, "too_long", f"At most {max_length} characters.")
    return text


def _money(errors: _Errors, field: str, value: Any, *, required: bool) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.add(field, "required", "This field is required.")
        return None
    plain = not isinstance(value, str) or AMOUNT_PATTERN.fullmatch(value.strip())
    try:
        if not plain:
            raise ValueError(value)
        amount = parse_money(value)
    except (ValueError, ArithmeticError):
        # ArithmeticError: decimal.InvalidOperation from an exponent like 1e999999.
        errors.add(
            field, "invalid_amount", f"{value!s:.40} is not an amount like 12.50 (2 decimals)."
        )
        return None
    if amount == 0:
        amount = abs(amount)  # "-0" is zero, not a negative price
    if amount < 0:
        errors.add(field, "negative_amount", "The amount cannot be negative.")
        return None
    if amount >= Decimal("10000000000"):
        errors.add(field, "amount_too_large", "The amount is too large.")
        return None
    return amount


def _options(errors: _Errors, options: Sequence[tuple[str, str]] | None) -> list[tuple[str, str]]:
    pairs = [(str(name or "").strip(), str(value or "").strip()) for name, value in (options or [])]
    pairs = [(name, value) for name, value in pairs if name or value]
    if len(pairs) > MAX_OPTIONS:
        errors.add("options", "too_many_options", f"At most {MAX_OPTIONS} options per variant.")
        return []
    names = set()
    for index, (name, value) in enumerate(pairs, start=1):
        if not (name + value).isprintable():
            errors.add(f"option{index}_name", "invalid_characters", "Remove control characters.")
        elif not name:
            errors.add(f"option{index}_name", "required", "Name this option (e.g. Size).")
        elif len(name) > 60:
            errors.add(f"option{index}_name", "too_long", "At most 60 characters.")
        elif name.lower() in names:
            errors.add(f"option{index}_name", "duplicate_option", f"{name} is used twice.")
        names.add(name.lower())
        if not value:
            errors.add(f"option{index}_value", "required", "Give this option a value.")
        elif len(value) > 120:
            errors.add(f"option{index}_value", "too_long", "At most 120 characters.")
    return pairs


def _sku(errors: _Errors, value: Any, *, exclude_pk: int | None = None) -> str:
    sku = _text(errors, "sku", value, max_length=64, required=True)
    if sku and any(ch.isspace() for ch in sku):
        errors.add("sku", "invalid_sku", "A SKU cannot contain spaces.")
    elif sku:
        taken = Variant.objects.filter(sku__iexact=sku).exclude(pk=exclude_pk).first()
        if taken is not None:
            errors.add("sku", "sku_taken", f"SKU {taken.sku} already exists.")
    return sku


def _barcode_code(errors: _Errors, value: Any, field: str = "barcode") -> str:
    code = _text(errors, field, value, max_length=64, required=True)
    if code and not all(ch.isalnum() or ch in "-." for ch in code):
        errors.add(field, "invalid_barcode", "Letters, digits, '-' and '.' only.")
    elif code:
        taken = Barcode.objects.filter(code=code).select_related("variant").first()
        if taken is not None:
            errors.add(
                field,
                "barcode_taken",
                f"Barcode {code} already belongs to SKU {taken.variant.sku}.",
            )
    return code


def _tracking(errors: _Errors, value: Any) -> str:
    tracking = str(value or Variant.Tracking.NONE)
    if tracking not in Variant.Tracking.values:
        errors.add("tracking", "invalid_choice", "Choose none, lot or serial.")
    return tracking


def _handle(errors: _Errors, handle: Any, name: str, *, exclude_pk: int | None = None) -> str:
    raw = str(handle or "").strip()
    value = slugify(raw or name)[:255]
    if raw and value != raw.lower():
        errors.add("handle", "invalid_handle", "Lower-case letters, digits and '-' only.")
    elif not value and name:
        errors.add("handle", "invalid_handle", "Give the product a handle (e.g. basic-tee).")
    elif value and Product.objects.filter(handle=value).exclude(pk=exclude_pk).exists():
        errors.add("handle", "handle_taken", f"Another product already uses {value}.")
    return value


# --- categories -----------------------------------------------------------------------


@transaction.atomic
def category_get_or_create_path(*, path: str) -> Category:
    """The category at "Women > Tops > T-shirts", creating the missing levels."""
    names = [part.strip() for part in str(path).split(CATEGORY_SEPARATOR)]
    if not names or any(not name for name in names):
        raise ValidationFailed.for_field(
            "category", "Write categories like Women > Tops > T-shirts.", code="invalid_category"
        )
    if any(len(name) > 120 for name in names) or len(" > ".join(names)) > 500:
        raise ValidationFailed.for_field("category", "This category path is too long.", "too_long")
    if any(not name.isprintable() for name in names):
        raise ValidationFailed.for_field(
            "category", "Remove the control characters.", "invalid_characters"
        )
    parent = None
    for name in names:
        # "women > tops" finds "Women > Tops": one tree, whatever the typing.
        full_path = f"{parent.path} > {name}" if parent else name
        category = Category.objects.filter(path__iexact=full_path).order_by("pk").first()
        if category is None:
            try:
                with transaction.atomic():
                    category = Category.objects.create(name=name, parent=parent, path=full_path)
            except IntegrityError:
                # Created concurrently, or same name under this parent with another path.
                category = Category.objects.filter(parent=parent, name=name).first()
                if category is None:
                    raise ValidationFailed.for_field(
                        "category", f"Cannot create {full_path}.", "invalid_category"
                    ) from None
        parent = category
    return parent


# --- products -------------------------------------------------------------------------


def _product_fields(
    errors: _Errors,
    *,
    name: Any,
    handle: Any,
    brand: Any,
    description: Any,
    category_path: Any,
    exclude_pk: int | None = None,
) -> dict[str, Any]:
    clean_name = _text(errors, "name", name, max_length=255, required=True)
    return {
        "name": clean_name,
        "handle": _handle(errors, handle, clean_name, exclude_pk=exclude_pk),
        "brand": _text(errors, "brand", brand, max_length=120, required=False),
        "description": _text(errors, "description", description, max_length=5000, required=False),
        "category_path": _text(errors, "category", category_path, max_length=500, required=False),
    }


def _variant_fields(
    errors: _Errors,
    *,
    sku: Any,
    price: Any,
    compare_at_price: Any = None,
    cost: Any = None,
    options: Sequence[tuple[str, str]] | None = None,
    tracking: Any = Variant.Tracking.NONE,
    name: Any = "",
    exclude_pk: int | None = None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "sku": _sku(errors, sku, exclude_pk=exclude_pk),
        "name": _text(errors, "variant_name", name, max_length=255, required=False),
        "price": _money(errors, "price", price, required=True),
        "compare_at_price": _money(errors, "compare_at_price", compare_at_price, required=False),
        "cost": _money(errors, "cost", cost, required=False),
        "tracking": _tracking(errors, tracking),
    }
    pairs = _options(errors, options)
    for index in range(1, MAX_OPTIONS + 1):
        name_value = pairs[index - 1] if index <= len(pairs) else ("", "")
        fields[f"option{index}_name"], fields[f"option{index}_value"] = name_value
    return fields


def product_input_check(
    *, product: Product | None = None, variant: Variant | None = None, data: dict[str, Any]
) -> list[dict[str, str]]:
    """The field errors that saving `data` would raise, without writing anything: the
    forms' inline validation asks this, so it and the save can never disagree."""
    errors = _Errors()
    if {"name", "handle", "brand", "category"} & data.keys():
        _product_fields(
            errors,
            name=data.get("name"),
            handle=data.get("handle"),
            brand=data.get("brand"),
            description=data.get("description"),
            category_path=data.get("category"),
            exclude_pk=product.pk if product else None,
        )
    if "sku" in data or "price" in data:
        _variant_fields(
            errors,
            sku=data.get("sku"),
            price=data.get("price"),
            compare_at_price=data.get("compare_at_price"),
            cost=data.get("cost"),
            options=options_from_data(data),
            tracking=data.get("tracking"),
            exclude_pk=variant.pk if variant else None,
        )
    if data.get("barcode"):
        _barcode_code(errors, data.get("barcode"))
    return errors.items


def options_from_data(data: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (str(data.get(f"option{i}_name", "")), str(data.get(f"option{i}_value", "")))
        for i in range(1, MAX_OPTIONS + 1)
    ]


@transaction.atomic
def product_create(
    *,
    actor,
    name: str,
    handle: str = "",
    brand: str = "",
    description: str = "",
    category_path: str = "",
    active: bool = True,
    variant: dict[str, Any] | None = None,
) -> Product:
    """Create a product, optionally with its first variant (keys as `variant_create`,
    plus "barcode"). Raises PermissionDenied, ValidationFailed."""
    _require_hq(actor)
    errors = _Errors()
    fields = _product_fields(
        errors,
        name=name,
        handle=handle,
        brand=brand,
        description=description,
        category_path=category_path,
    )
    variant_fields = None
    barcode = ""
    if variant is not None:
        variant_fields = _variant_fields(
            errors,
            sku=variant.get("sku"),
            price=variant.get("price"),
            compare_at_price=variant.get("compare_at_price"),
            cost=variant.get("cost"),
            options=variant.get("options"),
            tracking=variant.get("tracking", Variant.Tracking.NONE),
        )
        if variant.get("barcode"):
            barcode = _barcode_code(errors, variant["barcode"])
    errors.raise_if_any()
    category = (
        category_get_or_create_path(path=fields["category_path"])
        if fields["category_path"]
        else None
    )
    product = _save_unique(
        lambda: Product.objects.create(
            handle=fields["handle"],
            name=fields["name"],
            brand=fields["brand"],
            description=fields["description"],
            category=category,
            active=bool(active),
        ),
        "handle",
        "handle_taken",
        "Another product already uses this handle.",
    )
    if variant_fields is not None:
        new_variant = _variant_insert(product=product, fields=variant_fields)
        if barcode:
            _barcode_insert(variant=new_variant, code=barcode)
        catalog_changes_record(variant_ids=[new_variant.pk])
    return product


@transaction.atomic
def product_update(
    *,
    actor,
    product: Product,
    name: str,
    handle: str = "",
    brand: str = "",
    description: str = "",
    category_path: str = "",
    active: bool = True,
) -> Product:
    """Change a product; every variant of it moves on the sync cursor (its name, brand
    and activation show in each variant's API representation)."""
    _require_hq(actor)
    product = Product.objects.select_for_update().get(pk=product.pk)
    errors = _Errors()
    fields = _product_fields(
        errors,
        name=name,
        handle=handle,
        brand=brand,
        description=description,
        category_path=category_path,
        exclude_pk=product.pk,
    )
    errors.raise_if_any()
    product.name = fields["name"]
    product.handle = fields["handle"]
    product.brand = fields["brand"]
    product.description = fields["description"]
    product.category = (
        category_get_or_create_path(path=fields["category_path"])
        if fields["category_path"]
        else None
    )
    product.active = bool(active)
    _save_unique(product.save, "handle", "handle_taken", "Another product uses this handle.")
    catalog_changes_record(variant_ids=product.variants.values_list("pk", flat=True))
    return product


# --- variants -------------------------------------------------------------------------


def _save_unique(save, field: str, code: str, detail: str):
    """Run `save` in a savepoint; a unique violation (a concurrent twin got there
    first) becomes the same field error the pre-check gives."""
    try:
        with transaction.atomic():
            return save()
    except IntegrityError as error:
        raise ValidationFailed.for_field(field, detail, code) from error


def _variant_insert(*, product: Product, fields: dict[str, Any]) -> Variant:
    variant = Variant(product=product, **fields)
    return _save_unique(
        lambda: (variant.save(), variant)[1], "sku", "sku_taken", "This SKU already exists."
    )


def _barcode_insert(*, variant: Variant, code: str) -> Barcode:
    def save() -> Barcode:
        return Barcode.objects.create(variant=variant, code=code)

    try:
        with transaction.atomic():
            return save()
    except IntegrityError as error:
        owner = Barcode.objects.filter(code=code).select_related("variant").first()
        sku = owner.variant.sku if owner else "another SKU"
        raise ValidationFailed.for_field(
            "barcode", f"Barcode {code} already belongs to SKU {sku}.", "barcode_taken"
        ) from error


@transaction.atomic
def variant_create(
    *,
    actor,
    product: Product,
    sku: str,
    price: Decimal | str,
    compare_at_price: Decimal | str | None = None,
    cost: Decimal | str | None = None,
    options: Sequence[tuple[str, str]] | None = None,
    tracking: str = Variant.Tracking.NONE,
    name: str = "",
    barcode: str = "",
) -> Variant:
    """Add a SKU to a product. Raises PermissionDenied, ValidationFailed."""
    _require_hq(actor)
    errors = _Errors()
    fields = _variant_fields(
        errors,
        sku=sku,
        price=price,
        compare_at_price=compare_at_price,
        cost=cost,
        options=options,
        tracking=tracking,
        name=name,
    )
    code = _barcode_code(errors, barcode) if barcode else ""
    errors.raise_if_any()
    variant = _variant_insert(product=product, fields=fields)
    if code:
        _barcode_insert(variant=variant, code=code)
    catalog_changes_record(variant_ids=[variant.pk])
    return variant


@transaction.atomic
def variant_update(
    *,
    actor,
    variant: Variant,
    sku: str,
    price: Decimal | str,
    compare_at_price: Decimal | str | None = None,
    cost: Decimal | str | None = None,
    options: Sequence[tuple[str, str]] | None = None,
    tracking: str = Variant.Tracking.NONE,
    name: str = "",
) -> Variant:
    """Change a SKU's fields. Tracking cannot change once the SKU has stock movements
    (lots or serials would no longer add up). Raises PermissionDenied, ValidationFailed."""
    _require_hq(actor)
    variant = Variant.objects.select_for_update().get(pk=variant.pk)
    errors = _Errors()
    fields = _variant_fields(
        errors,
        sku=sku,
        price=price,
        compare_at_price=compare_at_price,
        cost=cost,
        options=options,
        tracking=tracking,
        name=name,
        exclude_pk=variant.pk,
    )
    if fields["tracking"] != variant.tracking and variant.stock_levels.exists():
        errors.add("tracking", "tracking_locked", "Tracking cannot change once the SKU has stock.")
    errors.raise_if_any()
    for key, value in fields.items():
        setattr(variant, key, value)
    _save_unique(variant.save, "sku", "sku_taken", "This SKU already exists.")
    catalog_changes_record(variant_ids=[variant.pk])
    return variant


def _variant_set_active(*, actor, variant: Variant, active: bool) -> Variant:
    _require_hq(actor)
    updated = Variant.objects.filter(pk=variant.pk).update(active=active)
    if not updated:
        raise NotFound("No such variant.")
    catalog_changes_record(variant_ids=[variant.pk])
    variant.refresh_from_db()
    return variant


@transaction.atomic
def variant_deactivate(*, actor, variant: Variant) -> Variant:
    """Stop selling a SKU (it stays in history, stock and reports)."""
    return _variant_set_active(actor=actor, variant=variant, active=False)


@transaction.atomic
def variant_activate(*, actor, variant: Variant) -> Variant:
    return _variant_set_active(actor=actor, variant=variant, active=True)


# --- barcodes and location prices -----------------------------------------------------


@transaction.atomic
def barcode_add(*, actor, variant: Variant, code: str) -> Barcode:
    """Attach a barcode; it is unique across the catalog and the error names the SKU
    that already has it. Raises PermissionDenied, ValidationFailed."""
    _require_hq(actor)
    errors = _Errors()
    clean = _barcode_code(errors, code)
    errors.raise_if_any()
    barcode = _barcode_insert(variant=variant, code=clean)
    catalog_changes_record(variant_ids=[variant.pk])
    return barcode


@transaction.atomic
def barcode_remove(*, actor, barcode: Barcode) -> None:
    _require_hq(actor)
    variant_id = barcode.variant_id
    deleted, _ = Barcode.objects.filter(pk=barcode.pk).delete()
    if not deleted:
        raise NotFound("No such barcode.")
    catalog_changes_record(variant_ids=[variant_id])


@transaction.atomic
def location_price_set(
    *, actor, variant: Variant, location: Location, price: Decimal | str
) -> LocationPrice:
    """This variant's price at one location, overriding its base price there."""
    _require_hq(actor)
    errors = _Errors()
    amount = _money(errors, "price", price, required=True)
    errors.raise_if_any()
    location_price, _ = LocationPrice.objects.update_or_create(
        variant=variant, location=location, defaults={"price": amount}
    )
    catalog_changes_record(variant_ids=[variant.pk])
    return location_price


@transaction.atomic
def location_price_clear(*, actor, variant: Variant, location: Location) -> None:
    """Back to the base price at this location (nothing to do if none was set)."""
    _require_hq(actor)
    deleted, _ = LocationPrice.objects.filter(variant=variant, location=location).delete()
    if deleted:
        catalog_changes_record(variant_ids=[variant.pk])
