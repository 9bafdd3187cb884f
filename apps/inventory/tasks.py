from celery import shared_task

from .alerts import alerts_evaluate


@shared_task(name="inventory.stock_alerts_evaluate")
def stock_alerts_evaluate(level_ids: list[int]) -> tuple[int, int]:
    """Open or resolve low-stock alerts for these levels; safe to run twice."""
    return alerts_evaluate(level_ids)
