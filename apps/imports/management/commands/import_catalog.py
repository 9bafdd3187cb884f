from ._runner import ImportCommand


class Command(ImportCommand):
    help = "Import a catalog template or a Shopify product CSV (the screen's checks and code)."
    kinds = ("catalog", "shopify")
