"""Forms of the stock screens: they collect and shape input; the services validate it.

Domain errors raised by a service are put back on the form (`errors_onto`), so a screen
shows the same message and code the API would, next to the field it is about.
"""

from __future__ import annotations

from datetime import date

from django import forms

from apps.core.errors import DomainError

from .ledger import QUANTITY_MAX
from .models import Movement
from .transfers import LineInput


def errors_onto(form: forms.Form, error: DomainError) -> None:
    """Show a service's error on the form field it names, or above the form."""
    placed = False
    for item in error.errors:
        field = item.get("field")
        if "line" in item and "lines" in form.fields:
            field = "lines"
        if field in form.fields:
            message = item.get("detail", error.detail)
            if "line" in item:
                message = f"Line {item['line'] + 1}: {message}"
            form.add_error(field, message)
            placed = True
    if not placed:
        form.add_error(None, error.detail)


class AdjustmentForm(forms.Form):
    location = forms.ChoiceField(label="Location")
    code = forms.CharField(label="SKU or barcode", max_length=64)
    delta = forms.CharField(
        label="Change to on hand", max_length=12, help_text="e.g. -2 or 5 (whole units)"
    )
    reason = forms.ChoiceField(
        choices=[
            (Movement.Reason.ADJUSTMENT, "Adjustment"),
            (Movement.Reason.WRITE_OFF, "Write-off"),
        ]
    )
    note = forms.CharField(max_length=255, required=False)
    lot_code = forms.CharField(
        label="Lot (lot-tracked goods)",
        max_length=64,
        required=False,
        help_text="Blank: first-expiring lot first.",
    )
    serials = forms.CharField(
        label="Serial numbers (serial-tracked goods)",
        max_length=2000,
        required=False,
        help_text="One per unit, separated by commas or spaces.",
    )

    def __init__(self, *args, locations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].choices = [
            (loc.code, f"{loc.code} · {loc.name}") for loc in locations
        ]

    def clean_serials(self) -> list[str]:
        return self.cleaned_data["serials"].replace(",", " ").split()

    def clean_delta(self) -> int:
        text = self.cleaned_data["delta"].strip().replace("\u2212", "-")
        try:
            delta = int(text)
        except ValueError:
            raise forms.ValidationError("Enter a whole number of units, e.g. -2 or 5.") from None
        if delta == 0:
            raise forms.ValidationError("The change must not be zero.")
        if abs(delta) > QUANTITY_MAX:
            raise forms.ValidationError(f"Change at most {QUANTITY_MAX:,} units at a time.")
        return delta


class TransferForm(forms.Form):
    source = forms.ChoiceField(label="From")
    destination = forms.ChoiceField(label="To")
    lines = forms.CharField(
        label="Lines",
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "TEE-M 4\n4006381333931 2"}),
        help_text="One line per SKU or barcode: the code, a space, the quantity "
        "(serial-tracked goods: then their serial numbers, e.g. PHONE-1 2 SN1,SN2).",
    )
    note = forms.CharField(max_length=255, required=False)

    def __init__(self, *args, sources=(), destinations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [(loc.code, f"{loc.code} · {loc.name}") for loc in sources]
        self.fields["destination"].choices = [
            (loc.code, f"{loc.code} · {loc.name}") for loc in destinations
        ]

    def clean_lines(self) -> list[LineInput]:
        parsed = []
        for raw in self.cleaned_data["lines"].splitlines():
            text = raw.strip()
            if not text:
                continue
            parts = text.split(maxsplit=2)
            if len(parts) == 1:
                parts.append("1")
            serials = tuple(parts[2].replace(",", " ").split()) if len(parts) == 3 else ()
            parsed.append(LineInput(code=parts[0], quantity=parts[1], serials=serials))
        if not parsed:
            raise forms.ValidationError("Add at least one line.")
        return parsed


# Filter dates outside this range cannot be turned into aware datetimes everywhere.
DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(9998, 12, 31)


class MovementFilterForm(forms.Form):
    location = forms.ChoiceField(required=False)
    sku = forms.CharField(required=False, max_length=64)
    reason = forms.ChoiceField(
        required=False, choices=[("", "Any reason"), *Movement.Reason.choices]
    )
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        for name in ("date_from", "date_to"):
            day = cleaned.get(name)
            if day is not None and not DATE_MIN <= day <= DATE_MAX:
                self.add_error(name, f"Enter a date between {DATE_MIN} and {DATE_MAX}.")
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned

    def __init__(self, *args, locations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].choices = [("", "All my locations")] + [
            (loc.code, loc.code) for loc in locations
        ]
