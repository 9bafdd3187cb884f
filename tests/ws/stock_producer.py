"""Commit stock receipts from a process of its own, printing one commit time per change:
`python -m tests.ws.stock_producer <LOCATION> <SKU> <COUNT>` (DATABASE_URL and REDIS_URL
from the environment).

This is "a change made by another process" (a Celery worker, a management command):
whatever it broadcasts goes to its own channel layer, which in the embedded mode reaches
nobody, so what the websocket clients receive has to come through the relay.
"""

import json
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omo_site.settings.base")

import django

django.setup()

from django.db import transaction  # noqa: E402

from apps.catalog.models import Variant  # noqa: E402
from apps.inventory.ledger import Actor, StockChange, stock_apply  # noqa: E402
from apps.inventory.models import Movement  # noqa: E402
from apps.stores.models import Location  # noqa: E402


def main(code: str, sku: str, count: int) -> None:
    location = Location.objects.get(code=code)
    variant = Variant.objects.get(sku=sku)
    for _ in range(count):
        with transaction.atomic():
            stock_apply(
                changes=[
                    StockChange(
                        variant_id=variant.pk,
                        location_id=location.pk,
                        reason=Movement.Reason.RECEIPT,
                        on_hand=1,
                    )
                ],
                actor=Actor(),
            )
        # Wall clock, after commit: the consumer side compares its receipt time.
        print(json.dumps({"committed_at": time.time()}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
