from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .models import Event


@shared_task(name="core.events_prune")
def events_prune() -> int:
    """Drop events older than the retention window; safe to run twice."""
    cutoff = timezone.now() - timedelta(hours=settings.OMO_EVENT_RETENTION_HOURS)
    deleted, _ = Event.objects.filter(created_at__lt=cutoff).delete()
    return deleted
