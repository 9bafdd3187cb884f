"""POS catalog API: paged sync, lookup by SKU and by barcode (shared/pos-api.md, Catalog)."""

from __future__ import annotations

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

from .models import Variant
from .selectors import variant_list_for_api

CURSOR_SCOPE = "catalog.variants"


class VariantProductSerializer(serializers.Serializer):
    handle = serializers.CharField()
    name = serializers.CharField()
    brand = serializers.CharField()
    category = serializers.CharField(source="category.path", allow_null=True, default=None)


class VariantSerializer(serializers.Serializer):
    sku = serializers.CharField()
    barcodes = serializers.SerializerMethodField()
    name = serializers.CharField(source="display_name")
    product = VariantProductSerializer()
    options = serializers.DictField(child=serializers.CharField())
    price = serializers.DecimalField(max_digits=12, decimal_places=2, source="price_effective")
    compare_at_price = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    active = serializers.SerializerMethodField()
    tracking = serializers.ChoiceField(choices=Variant.Tracking.choices)
    updated_at = serializers.DateTimeField()

    def get_barcodes(self, variant: Variant) -> list[str]:
        return [barcode.code for barcode in variant.barcodes.all()]

    def get_active(self, variant: Variant) -> bool:
        # A variant of a deactivated product is gone from the till as well.
        return variant.active and variant.product.active


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
        page = page_take(queryset, limit=limit, seq_field="change_seq")
        # An empty page leaves the client where it was: the same cursor again.
        sync_position = page.last or position or Position(seq=-1, id=0)
        return Response(
            {
                "results": VariantSerializer(page.rows, many=True).data,
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
        variant = variant_list_for_api(location=_caller_location(request)).filter(sku=sku).first()
        if variant is None:
            raise NotFound(f"No variant with SKU {sku!r}.")
        return Response(VariantSerializer(variant).data)


class BarcodeDetailView(APIView):
    @extend_schema(
        responses={200: VariantSerializer, **error_responses(401, 404)},
        operation_id="catalog_variant_by_barcode",
    )
    def get(self, request, barcode: str):
        variant = (
            variant_list_for_api(location=_caller_location(request))
            .filter(barcodes__code=barcode)
            .first()
        )
        if variant is None:
            raise NotFound(f"No variant with barcode {barcode!r}.")
        return Response(VariantSerializer(variant).data)
