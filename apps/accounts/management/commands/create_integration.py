from django.core.management.base import BaseCommand

from apps.accounts.models import ApiClient
from apps.accounts.services import api_client_script_create


class Command(BaseCommand):
    help = "Create an integration (e.g. the online shop) and print its API key (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)

    def handle(self, *args, name, **options):
        client, key = api_client_script_create(
            kind=ApiClient.Kind.INTEGRATION, name=name, location=None
        )
        self.stderr.write(f"Integration {client.name!r}. The key is shown once:")
        self.stdout.write(key)
