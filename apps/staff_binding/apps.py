from django.apps import AppConfig


class StaffBindingConfig(AppConfig):
    name = "apps.staff_binding"
    label = "staff_binding"
