from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api_schema import error_responses


class LocationBriefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    timezone = serializers.CharField()
    currency = serializers.SerializerMethodField()

    def get_currency(self, location) -> str:
        return settings.OMO_CURRENCY


class SessionView(APIView):
    """Who am I: the device and its location (both null for an integration)."""

    @extend_schema(
        operation_id="pos_session",
        responses={
            200: inline_serializer(
                "Session",
                {
                    "device": inline_serializer(
                        "SessionDevice",
                        {"id": serializers.IntegerField(), "name": serializers.CharField()},
                        allow_null=True,
                    ),
                    "location": LocationBriefSerializer(allow_null=True),
                    "server_time": serializers.DateTimeField(),
                },
            ),
            **error_responses(401),
        },
    )
    def get(self, request):
        client = request.user
        device = location = None
        if client.is_pos_device:
            device = {"id": client.pk, "name": client.name}
            location = LocationBriefSerializer(client.location).data
        return Response(
            {"device": device, "location": location, "server_time": timezone.now().isoformat()}
        )
