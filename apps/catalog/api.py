"""POS catalog API: paged sync, lookup by SKU and by barcode (shared/pos-api.md, Catalog)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import CharField, Func
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api_schema import error_responses
from apps.core.errors import NotFound
from apps.core.lookups import AnyOf
from apps.core.pagination import (
    Position,
    cursor_decode,
    cursor_encode,
    keyset_after,
    limit_parse,
    page_take,
)

from .api_renderers import FastJSONRenderer
from .models import Barcode, Variant
from .selectors import variant_list_for_api

CURSOR_SCOPE = "catalog.variants"


class VariantProductSerializer(serializers.Serializer):
    handle = serializers.CharField()
    name = serializers.CharField()
    brand = serializers.CharField()
    category = serializers.CharField(allow_null=True, help_text="Category path, or null.")


class VariantSerializer(serializers.Serializer):
    """The contract's Variant. It documents the schema; `variant_rows` builds the body
    (plain dicts: a full sync serialises 100,000 of them)."""

    sku = serializers.CharField()
    barcodes = serializers.ListField(child=serializers.CharField())
    name = serializers.CharField()
    product = VariantProductSerializer()
    options = serializers.DictField(child=serializers.CharField())
    price = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="At the caller's location, before promotions."
    )
    compare_at_price = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    active = serializers.BooleanField(help_text="false: a tombstone (variant or product retired).")
    tracking = serializers.ChoiceField(choices=Variant.Tracking.choices)
    updated_at = serializers.DateTimeField()


# The columns a Variant body is built from, in the order `variant_rows` unpacks them.
_VARIANT_COLUMNS = (
    "id",
    "change_seq",
    "sku",
    "name",
    "option1_name",
    "option1_value",
    "option2_name",
    "option2_value",
    "option3_name",
    "option3_value",
    "price_here",
    "price",
    "compare_at_price",
    "active",
    "tracking",
    "updated_at",
    "product__handle",
    "product__name",
    "product__brand",
    "product__active",
    "product__category__path",
)


def _iso(moment: datetime) -> str:
    # As DRF's DateTimeField renders it (UTC as "Z"), without its per-value overhead:
    # the database hands back aware datetimes in UTC.
    value = moment.astimezone(UTC).isoformat()
    return value[:-6] + "Z" if value.endswith("+00:00") else value


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else f"{amount:.2f}"


class VariantRow:
    """One evaluated variant: its keyset position (`id`, `change_seq`, read by
    `page_take`) and `body`, the contract's Variant dict."""

    __slots__ = ("body", "change_seq", "id")

    def __init__(self, id: int, change_seq: int, body: dict[str, Any]) -> None:
        self.id = id
        self.change_seq = change_seq
        self.body = body


class UtcIso(Func):
    """PostgreSQL: a timestamptz as `_iso` writes it ("2026-01-02T03:04:05.123456Z", no
    fraction when it is zero), so the database sends text instead of a timestamp that
    Django's Python loader parses and `_iso` formats again (a fifth of a sync page's
    CPU). A test compares it with `_iso` on PostgreSQL."""

    output_field = CharField()
    template = (
        "CASE WHEN to_char(%(expressions)s AT TIME ZONE 'UTC', 'US') = '000000' "
        "THEN to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') "
        "ELSE to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') "
        "END || 'Z'"
    )


def variant_rows(queryset, *, portable: bool = False) -> list[VariantRow]:
    """Evaluate a `variant_list_for_api` queryset (already filtered, ordered, sliced) as
    the contract's Variant bodies, in two queries: the rows, then their barcodes.

    Hot path (a full sync builds 100,000 of these): tuples straight from the cursor,
    not model instances or .values() dicts; on PostgreSQL `updated_at` comes as text
    (UtcIso). `portable` forces the path of other databases (the test comparing both)."""
    queryset = queryset.prefetch_related(None)
    columns = _VARIANT_COLUMNS
    if connection.vendor == "postgresql" and not portable:
        queryset = queryset.annotate(updated_at_iso=UtcIso("updated_at"))
        columns = tuple("updated_at_iso" if c == "updated_at" else c for c in columns)
    rows = list(queryset.values_list(*columns))
    barcodes = barcodes_by_variant([row[0] for row in rows]) if rows else {}
    return [_variant_row(row, barcodes.get(row[0], [])) for row in rows]


def barcodes_by_variant(variant_ids: list[int]) -> dict[int, list[str]]:
    """{variant id: its barcodes by code}. The ids go as one array parameter on
    PostgreSQL (AnyOf): a page's IN list of 1,000 placeholders cost more to prepare and
    send than the barcodes it fetched, and a subquery made the planner scan the whole
    table."""
    pairs = (
        Barcode.objects.filter(AnyOf("variant_id", variant_ids))
        .order_by("code")
        .values_list("variant_id", "code")
    )
    barcodes: dict[int, list[str]] = defaultdict(list)
    for variant_id, code in pairs:
        barcodes[variant_id].append(code)
    return barcodes


def _variant_row(row: tuple, barcodes: list[str]) -> VariantRow:
    (
        variant_id,
        change_seq,
        sku,
        name,
        option1_name,
        option1_value,
        option2_name,
        option2_value,
        option3_name,
        option3_value,
        price_here,
        price,
        compare_at_price,
        active,
        tracking,
        updated_at,
        product_handle,
        product_name,
        product_brand,
        product_active,
        category_path,
    ) = row
    options = {}
    if option1_name:
        options[option1_name] = option1_value
    if option2_name:
        options[option2_name] = option2_value
    if option3_name:
        options[option3_name] = option3_value
    if not name:  # as Variant.display_name: product name + option values
        values = " / ".join(value for value in options.values() if value)
        name = f"{product_name} - {values}" if values else product_name
    body = {
        "sku": sku,
        "barcodes": barcodes,
        "name": name,
        "product": {
            "handle": product_handle,
            "name": product_name,
            "brand": product_brand,
            "category": category_path,
        },
        "options": options,
        "price": _money(price if price_here is None else price_here),
        "compare_at_price": _money(compare_at_price),
        # A variant of a retired product is gone from the till as well.
        "active": active and product_active,
        "tracking": tracking,
        "updated_at": updated_at if type(updated_at) is str else _iso(updated_at),
    }
    return VariantRow(variant_id, change_seq, body)


class VariantPageSerializer(serializers.Serializer):
    results = VariantSerializer(many=True)
    next_cursor = serializers.CharField(
        allow_null=True, help_text="Pass as `cursor` for the next page; null on the last page."
    )
    sync_cursor = serializers.CharField(
        help_text="Keep it: pass as `updated_after` for the next delta sync (always set)."
    )


def _caller_location(request):
    client = request.user
    return client.location if client.is_pos_device else None


class VariantListView(APIView):
    """Catalog sync: every variant, changed ones after the cursor, in commit order."""

    renderer_classes = [FastJSONRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "updated_after",
                OpenApiTypes.STR,
                description="A cursor from `sync_cursor` (or `next_cursor`); omit to start.",
            ),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="Same as updated_after."),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1..1000, default 200."),
        ],
        responses={200: VariantPageSerializer, **error_responses(400, 401)},
        operation_id="catalog_variants_sync",
    )
    def get(self, request):
        params = request.query_params
        limit = limit_parse(params)
        field = "cursor" if params.get("cursor") else "updated_after"
        raw = params.get(field)
        position = cursor_decode(raw, scope=CURSOR_SCOPE, field=field) if raw else None
        queryset = keyset_after(
            variant_list_for_api(location=_caller_location(request)),
            position,
            seq_field="change_seq",
        )
        page = page_take(queryset, limit=limit, seq_field="change_seq", evaluate=variant_rows)
        # An empty page leaves the client where it was: the same cursor again.
        sync_position = page.last or position or Position(seq=-1, id=0)
        return Response(
            {
                "results": [row.body for row in page.rows],
                "next_cursor": cursor_encode(page.last, scope=CURSOR_SCOPE)
                if page.has_more
                else None,
                "sync_cursor": cursor_encode(sync_position, scope=CURSOR_SCOPE),
            }
        )


class VariantDetailView(APIView):
    renderer_classes = [FastJSONRenderer]

    @extend_schema(
        responses={200: VariantSerializer, **error_responses(401, 404)},
        operation_id="catalog_variant_by_sku",
    )
    def get(self, request, sku: str):
        rows = variant_rows(
            variant_list_for_api(location=_caller_location(request)).filter(sku=sku)
        )
        if not rows:
            raise NotFound(f"No variant with SKU {sku!r}.")
        return Response(rows[0].body)


class BarcodeDetailView(APIView):
    renderer_classes = [FastJSONRenderer]

    @extend_schema(
        responses={200: VariantSerializer, **error_responses(401, 404)},
        operation_id="catalog_variant_by_barcode",
    )
    def get(self, request, barcode: str):
        rows = variant_rows(
            variant_list_for_api(location=_caller_location(request)).filter(barcodes__code=barcode)
        )
        if not rows:
            raise NotFound(f"No variant with barcode {barcode!r}.")
        return Response(rows[0].body)
