from django import forms
from django.contrib.auth.forms import AuthenticationForm

from .models import ApiClient


class LoginForm(AuthenticationForm):
    """E-mail and password. A wrong password and an unknown e-mail get the same message,
    so the form does not tell which addresses have accounts."""

    username = forms.EmailField(
        label="E-mail", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )
    error_messages = {
        "invalid_login": "The e-mail or the password is wrong.",
        "inactive": "The e-mail or the password is wrong.",
    }


class ApiClientCreateForm(forms.Form):
    """A new POS device (at a location the user manages) or, for HQ, an integration.

    Only input shape is checked here; who may create what is the service's rule."""

    kind = forms.ChoiceField(label="Kind")
    name = forms.CharField(label="Name", max_length=120, strip=True)
    location = forms.ModelChoiceField(
        label="Location", queryset=None, to_field_name="code", required=False
    )

    def __init__(self, *args, user, managed_locations, **kwargs):
        super().__init__(*args, **kwargs)
        kinds = [(ApiClient.Kind.POS_DEVICE.value, ApiClient.Kind.POS_DEVICE.label)]
        if user.is_hq:
            kinds.append((ApiClient.Kind.INTEGRATION.value, ApiClient.Kind.INTEGRATION.label))
        self.fields["kind"].choices = kinds
        self.fields["kind"].initial = ApiClient.Kind.POS_DEVICE
        self.fields["location"].queryset = managed_locations.order_by("code")
        self.fields["location"].empty_label = None

    def location_was_tampered(self) -> bool:
        """A location code that is not among the offered ones: someone edited the form."""
        return any(
            error.code == "invalid_choice" for error in self.errors.as_data().get("location", [])
        )
