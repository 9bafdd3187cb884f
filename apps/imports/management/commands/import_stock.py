from ._runner import ImportCommand


class Command(ImportCommand):
    help = "Import a stock sheet: counted on hand or deltas per sku and location."
    kinds = ("stock",)
