"""Helpers for the /ws/pos/ tests: connect a POS client, commit stock changes."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction

from apps.core.events import PendingEvent, events_append
from apps.inventory.ledger import Actor, StockChange, stock_apply
from apps.inventory.models import Movement
from omo_site.asgi import application
from tests.asgi import WebsocketCommunicator
from tests.factories import VariantFactory


async def connect(key: str, *, via: str = "subprotocol") -> WebsocketCommunicator:
    if via == "subprotocol":
        communicator = WebsocketCommunicator(application, "/ws/pos/", subprotocols=[f"token.{key}"])
    else:
        communicator = WebsocketCommunicator(application, f"/ws/pos/?token={key}")
    connected, subprotocol = await communicator.connect(timeout=5)
    assert connected
    communicator.accepted_subprotocol = subprotocol
    return communicator


async def receive(communicator: WebsocketCommunicator, timeout: float = 3) -> dict:
    return await communicator.receive_json_from(timeout=timeout)


async def receive_close_code(communicator: WebsocketCommunicator, timeout: float = 3) -> int:
    while True:
        output = await communicator.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return output.get("code")


async def send(communicator: WebsocketCommunicator, message) -> None:
    text = message if isinstance(message, str) else json.dumps(message)
    await communicator.send_to(text_data=text)


def _stock_receive(location_id: int, variant_id: int, quantity: int) -> None:
    with transaction.atomic():
        stock_apply(
            changes=[
                StockChange(
                    variant_id=variant_id,
                    location_id=location_id,
                    reason=Movement.Reason.RECEIPT,
                    on_hand=quantity,
                )
            ],
            actor=Actor(),
        )


stock_receive = database_sync_to_async(_stock_receive)


def _signal(stream: str) -> None:
    with transaction.atomic():
        events_append([PendingEvent(stream=stream, type="changed", payload={"note": "x"})])


signal_append = database_sync_to_async(_signal)


def _pickup(code: str, number: str, status: str) -> None:
    with transaction.atomic():
        events_append(
            [
                PendingEvent(
                    stream=f"location.{code}",
                    type="pickup",
                    payload={"number": number, "status": status},
                )
            ]
        )


pickup_append = database_sync_to_async(_pickup)


@pytest.fixture
def variant(transactional_db):
    return VariantFactory(sku="TEE-BLK-M")


def database_url() -> str:
    """A URL for the database the test runs on, for another process to use."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"
