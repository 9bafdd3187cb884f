from django import forms
from django.contrib.auth.forms import AuthenticationForm


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
