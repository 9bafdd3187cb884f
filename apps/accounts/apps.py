from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self):
        from django.contrib import admin

        from . import schema  # noqa: F401  registers the Token scheme with drf-spectacular

        # The Django admin is a superuser's tool; managers use the back-office.
        admin.site.has_permission = lambda request: bool(
            request.user.is_active and request.user.is_superuser
        )
