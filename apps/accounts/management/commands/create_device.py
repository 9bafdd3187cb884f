from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import ApiClient
from apps.accounts.services import api_client_script_create
from apps.stores.models import Location


class Command(BaseCommand):
    help = "Create a POS device for a location and print its API key (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("--location", required=True, help="location code, e.g. S01")
        parser.add_argument("--name", required=True)

    def handle(self, *args, location, name, **options):
        place = Location.objects.filter(code=location).first()
        if place is None:
            raise CommandError(f"No location {location!r}.")
        client, key = api_client_script_create(
            kind=ApiClient.Kind.POS_DEVICE, name=name, location=place
        )
        self.stderr.write(f"Device {client.name!r} at {place.code}. The key is shown once:")
        self.stdout.write(key)
