"""POS stock reads: one location's levels (full or after a sequence number) and one
SKU across the locations the caller may see (shared/pos-api.md, Stock)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.catalog.models import Variant
from apps.core.api_schema import error_responses
from apps.core.errors import NotFound, ValidationFailed
from apps.core.events import location_stream, stream_last_seq
from apps.core.pagination import (
    cursor_decode,
    cursor_encode,
    keyset_after,
    limit_parse,
    page_take,
)
from apps.stores.selectors import (
    location_get_readable_by_client,
    location_list_readable_by_client,
)

from .selectors import stock_level_rows

CURSOR_SCOPE = "stock.levels"


class StockLevelSerializer(serializers.Serializer):
    """The contract's StockLevel; documents `_level_json`, which builds it on the hot path."""

    sku = serializers.CharField()
    location = serializers.CharField(help_text="Location code.")
    on_hand = serializers.IntegerField()
    reserved = serializers.IntegerField()
    available = serializers.IntegerField(help_text="on_hand - reserved")
    seq = serializers.IntegerField(help_text="Sequence on the location's stream of the change.")


class StockPageSerializer(serializers.Serializer):
    results = StockLevelSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    seq = serializers.IntegerField(
        help_text="High-water mark: pass as `after` next time (after following next_cursor "
        "to the end)."
    )


class SkuStockSerializer(serializers.Serializer):
    sku = serializers.CharField()
    levels = StockLevelSerializer(many=True)


def _level_json(row: dict[str, Any]) -> dict[str, Any]:
    # Plain dicts instead of a DRF serializer: this list is read by every till all day.
    return {
        "sku": row["sku"],
        "location": row["location_code"],
        "on_hand": row["on_hand"],
        "reserved": row["reserved"],
        "available": row["available"],
        "seq": row["seq"],
    }


def _after_parse(raw: str | None, *, last_seq: int) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        after = int(raw.strip())
    except ValueError:
        after = None
    if after is None or after < 0:
        raise ValidationFailed.for_field("after", "after must be a sequence number (0 or more).")
    if after > last_seq:
        raise ValidationFailed.for_field(
            "after",
            f"after={after} is in the future: this location's stream is at {last_seq}. "
            "Do a full stock read (without after) and continue from its seq.",
        )
    return after


class StockListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "location",
                OpenApiTypes.STR,
                description="Location code; default the device's own (required for an "
                "integration).",
            ),
            OpenApiParameter("sku", OpenApiTypes.STR),
            OpenApiParameter(
                "after", OpenApiTypes.INT, description="Only levels changed after this seq."
            ),
            OpenApiParameter(
                "cursor",
                OpenApiTypes.STR,
                description="next_cursor of the previous page; send the same location, sku "
                "and after with it (a cursor is bound to them).",
            ),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1..1000, default 200."),
        ],
        responses={200: StockPageSerializer, **error_responses(400, 401, 403)},
        operation_id="stock_levels",
    )
    def get(self, request):
        params = request.query_params
        client = request.user
        code = params.get("location") or (client.location.code if client.is_pos_device else "")
        if not code:
            raise ValidationFailed.for_field("location", "location is required for an integration.")
        location = location_get_readable_by_client(client, code)
        limit = limit_parse(params)
        # Read the stream's high-water mark BEFORE the rows. Sequence numbers on a
        # location stream are handed out in commit order (apps.core.events: the number
        # is taken under a row lock held until commit), so every change numbered up to
        # this value is already committed and therefore visible to the rows query that
        # follows, whose snapshot is the same (one transaction on SQLite) or later
        # (PostgreSQL, read committed). Handing it back as `seq` can never make the
        # client skip a change that commits later: those get higher numbers.
        last_seq = stream_last_seq(location_stream(location.code))
        after = _after_parse(params.get("after"), last_seq=last_seq)
        sku = params.get("sku") or None
        bound = {"location": location.code, "after": after, "sku": sku}
        raw_cursor = params.get("cursor")
        position = cursor_decode(raw_cursor, scope=CURSOR_SCOPE, **bound) if raw_cursor else None

        rows = stock_level_rows(location_ids=[location.pk])
        if sku is not None:
            rows = rows.filter(variant__sku=sku)
        if after is not None:
            rows = rows.filter(seq__gt=after)
        page = page_take(
            keyset_after(rows, position, seq_field="seq"), limit=limit, seq_field="seq"
        )

        if page.has_more:
            # Mid-list: a change has one number per location stream, so no other level
            # shares the last row's seq (only never-changed levels share 0).
            high_water = page.last.seq
        else:
            high_water = max(last_seq, page.last.seq if page.last else 0)
        return Response(
            {
                "results": [_level_json(row) for row in page.rows],
                "next_cursor": cursor_encode(page.last, scope=CURSOR_SCOPE, **bound)
                if page.has_more
                else None,
                "seq": high_water,
            }
        )


class SkuStockView(APIView):
    """Cross-store lookup: one SKU at every location the caller may read that stocks it."""

    @extend_schema(
        responses={200: SkuStockSerializer, **error_responses(401, 404)},
        operation_id="stock_of_sku",
    )
    def get(self, request, sku: str):
        variant = Variant.objects.filter(sku=sku).only("pk", "sku").first()
        if variant is None:
            raise NotFound(f"No variant with SKU {sku!r}.")
        readable = location_list_readable_by_client(request.user).values("pk")
        rows = stock_level_rows(location_ids=readable).filter(variant=variant)
        return Response(
            {
                "sku": variant.sku,
                "levels": [_level_json(row) for row in rows.order_by("location__code")],
            }
        )
