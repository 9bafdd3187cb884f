import logging

from celery import shared_task
from django.utils import timezone

from .models import Order
from .services import pickup_expire

logger = logging.getLogger(__name__)


@shared_task(name="sales.pickups_expire")
def pickups_expire() -> int:
    """Expire every pickup past its window (beat, every few minutes); safe to run twice:
    each order is re-checked under its row lock by the service. One order that fails is
    logged and skipped (its own transaction rolled back) so the others still expire."""
    now = timezone.now()
    due = Order.objects.filter(
        status__in=[Order.Status.RESERVED, Order.Status.READY], pickup_expires_at__lte=now
    ).values_list("pk", flat=True)
    expired = 0
    for order_id in list(due[:1000]):
        try:
            expired += pickup_expire(order_id=order_id, now=now)
        except Exception:
            logger.exception("Could not expire pickup order %s; skipped", order_id)
    return expired
