"""A task through a real Celery worker (a thread consuming the broker), not eager mode."""

import threading
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.events import event_append
from apps.core.models import Event
from apps.core.tasks import events_prune
from omo_site.celery import app as celery_app


def _forget_cached_backend():
    # Celery caches the result backend on first use (thread-local or app-wide); earlier
    # eager tasks cached the disabled one, so drop it for the configuration to apply.
    celery_app._backend_cache = None
    celery_app._local = threading.local()


@pytest.fixture
def real_worker(transactional_db, settings):
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    celery_app.conf.result_backend = "cache+memory://"
    _forget_cached_backend()
    celery_app.conf.task_ignore_result = False
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield
    celery_app.conf.task_always_eager = previous
    celery_app.conf.task_ignore_result = True
    celery_app.conf.result_backend = None
    _forget_cached_backend()


def test_events_prune_runs_in_a_worker_and_is_safe_twice(real_worker, settings):
    with transaction.atomic():
        old = event_append(stream="location.A", type="stock", payload={})
        fresh = event_append(stream="location.A", type="stock", payload={})
    Event.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(hours=settings.OMO_EVENT_RETENTION_HOURS + 1)
    )
    assert events_prune.apply_async(ignore_result=False).get(timeout=20) == 1
    assert events_prune.apply_async(ignore_result=False).get(timeout=20) == 0
    assert list(Event.objects.values_list("pk", flat=True)) == [fresh.pk]


@pytest.mark.parametrize("name", sorted(settings.CELERY_BEAT_SCHEDULE))
def test_every_beat_entry_names_a_task_the_worker_has(name):
    celery_app.loader.import_default_modules()  # what a worker does as it starts
    assert settings.CELERY_BEAT_SCHEDULE[name]["task"] in celery_app.tasks


def test_a_prefork_worker_recycles_a_child_an_import_left_big():
    """An import leaves its process ~300 MB (fragmented arenas); the next one in the same
    process peaked past 500 MB. The app must hand the limit to the worker (KiB)."""
    assert (
        celery_app.conf.worker_max_memory_per_child == settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD
    )
    assert 0 < celery_app.conf.worker_max_memory_per_child <= 400_000
