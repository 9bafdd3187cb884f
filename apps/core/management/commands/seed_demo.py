"""Build (or refresh) a believable demo merchant. Safe to run again: it is idempotent.

Each app contributes a `demo.seed(...)` function; later issues add theirs here in
dependency order.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from apps.accounts import demo as accounts_demo
from apps.catalog import demo as catalog_demo
from apps.imports import demo as imports_demo
from apps.inventory import demo as stock_demo
from apps.inventory import demo_documents as stock_documents_demo
from apps.sales import demo as sales_demo
from apps.stores import demo as stores_demo


class Command(BaseCommand):
    help = "Load the demo merchant: stores, warehouse, online shop, people (idempotent)."

    def handle(self, *args, **options):
        with transaction.atomic():
            locations = stores_demo.seed()
            users = accounts_demo.seed(locations)
            variants = catalog_demo.seed(locations)
            stock_demo.seed(locations, variants)
            # Stock documents last: after the inventory demo has stocked the locations.
            stock_documents_demo.seed(locations, users)
            # Sales last: 60 days of orders on top of the stocked catalog.
            sales_demo.seed(locations)
            # The sample catalog file, uploaded and checked, for a newcomer to confirm.
            imports_demo.seed(users)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {len(locations)} locations, {len(users)} people, "
                f"{len(variants)} SKUs."
            )
        )
