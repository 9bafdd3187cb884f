from django.db import transaction

from .models import Location


@transaction.atomic
def location_delete(*, location: Location) -> None:
    """Delete a location that nothing refers to.

    Raises django.db.models.ProtectedError (nothing deleted) while stock levels, ledger
    rows, transfers, stocktakes ... name it. The location's row is locked first: a stock
    level has no foreign key constraint on its location, and a writer creating levels
    there holds the row FOR KEY SHARE until its commit (ledger.locations_lock), so
    Django's PROTECT check below sees its levels, or the writer finds the location gone.
    """
    Location.objects.select_for_update().filter(pk=location.pk).first()
    location.delete()
