from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "apps.imports"
    label = "imports"

    def ready(self) -> None:
        # Register the Celery tasks in every process (web too), so services can queue
        # them by name without importing the module that imports them.
        from . import tasks  # noqa: F401
