"""events_prune's range read is served by the BRIN index on core_event.created_at
(migration 0004), which replaced a btree that cost an entry per event written."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.core.events import event_append
from apps.core.models import Event
from apps.core.tasks import events_prune

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_prune_deletes_only_the_old_events_through_the_brin_index():
    old = event_append(stream="location.1", type="stock", payload={"sku": "A"})
    fresh = event_append(stream="location.1", type="stock", payload={"sku": "B"})
    cutoff = timezone.now() - timedelta(hours=settings.OMO_EVENT_RETENTION_HOURS)
    Event.objects.filter(pk=old.pk).update(created_at=cutoff - timedelta(hours=1))

    with transaction.atomic(), connection.cursor() as cursor:
        for scan in ("seqscan", "indexscan", "indexonlyscan"):
            cursor.execute(f"SET LOCAL enable_{scan} = off")
        plan = Event.objects.filter(created_at__lt=cutoff).explain()
    assert "core_event_created_at_brin" in plan
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'core_event'")
        indexes = {row[0] for row in cursor.fetchall()}
    assert indexes == {"core_event_pkey", "event_stream_seq_unique", "core_event_created_at_brin"}

    assert events_prune() == 1
    assert list(Event.objects.values_list("pk", "seq")) == [(fresh.pk, fresh.seq)]
