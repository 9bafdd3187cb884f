"""POS catalog API: paged sync, lookup by SKU and by barcode (shared/pos-api.md, Catalog)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import F
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api_schema import error_responses
from apps.core.errors import NotFound
from apps.core.pagination import (
    Position,
    cursor_decode,
    cursor_encode,
    keyset_after,
    limit_parse,
    page_take,
)

from .models import Barcode, Variant
from .selectors import variant_list_for_api

CURSOR_SCOPE = "catalog.variants"


class VariantProductSerializer(serializers.Serializer):
    handle = serializers.CharField()
    name = serializers.CharField()
    brand = serializers.CharField()
    category = serializers.CharField(allow_null=True, help_text="Category path, or null.")


class VariantSerializer(serializers.Serializer):
    """The contract's Variant. It documents the schema; `variant_json` builds the body
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


_VARIANT_VALUES = (
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
    "price_effective",
    "compare_at_price",
    "active",
    "tracking",
    "updated_at",
)


def _iso(moment: datetime) -> str:
    # As DRF's DateTimeField renders it (UTC as "Z"), without its per-value overhead:
    # the database hands back aware datetimes in UTC.
    value = moment.astimezone(UTC).isoformat()
    return value[:-6] + "Z" if value.endswith("+00:00") else value


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else f"{amount:.2f}"


def variant_rows(queryset) -> list[dict[str, Any]]:
    """Evaluate a `variant_list_for_api` queryset (already filtered, ordered, sliced) as
    the contract's Variant dicts, in two queries: the rows, then their barcodes."""
    rows = list(
        queryset.prefetch_related(None).values(
            *_VARIANT_VALUES,
            product_handle=F("product__handle"),
            product_name=F("product__name"),
            product_brand=F("product__brand"),
            product_active=F("product__active"),
            category_path=F("product__category__path"),
        )
    )
    barcodes: dict[int, list[str]] = defaultdict(list)
    if rows:
        for variant_id, code in (
            Barcode.objects.filter(variant_id__in=[row["id"] for row in rows])
            .order_by("code")
            .values_list("variant_id", "code")
        ):
            barcodes[variant_id].append(code)
    for row in rows:
        row["barcodes"] = barcodes.get(row["id"], [])
    return rows


def variant_json(row: dict[str, Any]) -> dict[str, Any]:
    options = {
        row[f"option{n}_name"]: row[f"option{n}_value"] for n in (1, 2, 3) if row[f"option{n}_name"]
    }
    name = row["name"]
    if not name:  # as Variant.display_name: product name + option values
        values = " / ".join(value for value in options.values() if value)
        name = f"{row['product_name']} - {values}" if values else row["product_name"]
    return {
        "sku": row["sku"],
        "barcodes": row["barcodes"],
        "name": name,
        "product": {
            "handle": row["product_handle"],
            "name": row["product_name"],
            "brand": row["product_brand"],
            "category": row["category_path"],
        },
        "options": options,
        "price": _money(row["price_effective"]),
        "compare_at_price": _money(row["compare_at_price"]),
        # A variant of a retired product is gone from the till as well.
        "active": row["active"] and row["product_active"],
        "tracking": row["tracking"],
        "updated_at": _iso(row["updated_at"]),
    }


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
                "results": [variant_json(row) for row in page.rows],
                "next_cursor": cursor_encode(page.last, scope=CURSOR_SCOPE)
                if page.has_more
                else None,
                "sync_cursor": cursor_encode(sync_position, scope=CURSOR_SCOPE),
            }
        )


class VariantDetailView(APIView):
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
        return Response(variant_json(rows[0]))


class BarcodeDetailView(APIView):
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
        return Response(variant_json(rows[0]))
