"""Parsing of what the catalog screens receive. Forms only parse and describe fields;
the rules (unique SKU, price format, options) live in apps.catalog.services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms

from .models import Variant


class ProductFilterForm(forms.Form):
    """The product list's GET parameters. An invalid one is reported and ignored, so a
    hand-edited URL never fails the page."""

    q = forms.CharField(required=False, max_length=100, strip=True)
    category = forms.IntegerField(required=False, min_value=1)
    brand = forms.CharField(required=False, max_length=120, strip=True)
    active = forms.ChoiceField(
        required=False, choices=[("", "Any"), ("yes", "Active"), ("no", "Inactive")]
    )
    page = forms.IntegerField(required=False, min_value=1)

    def value(self, name: str, default: Any = None) -> Any:
        if not self.is_bound:
            return default
        self.is_valid()
        value = self.cleaned_data.get(name)
        return default if value in (None, "") else value


@dataclass
class Field:
    name: str
    label: str
    type: str = "text"
    required: bool = False
    help: str = ""
    choices: list[tuple[str, str]] | None = None
    value: Any = ""
    error: str = ""
    # Inline validation asks the server about this field as it is typed.
    validate: bool = True


PRODUCT_FIELDS = [
    Field("name", "Name", required=True),
    Field("handle", "Handle", help="URL name; blank: made from the name."),
    Field("brand", "Brand"),
    Field("category", "Category", help="e.g. Women > Tops > T-shirts (missing levels are created)"),
    Field("description", "Description", type="textarea", validate=False),
    Field("active", "Active", type="checkbox", validate=False),
]
VARIANT_FIELDS = [
    Field("sku", "SKU", required=True),
    Field("price", "Price", required=True, help="e.g. 19.90"),
    Field("compare_at_price", "Compare-at price"),
    Field("cost", "Cost"),
    Field(
        "tracking",
        "Tracking",
        type="select",
        choices=list(Variant.Tracking.choices),
        validate=False,
    ),
    Field("option1_name", "Option 1 name", help="e.g. Size"),
    Field("option1_value", "Option 1 value", help="e.g. M"),
    Field("option2_name", "Option 2 name", help="e.g. Colour"),
    Field("option2_value", "Option 2 value"),
    Field("option3_name", "Option 3 name"),
    Field("option3_value", "Option 3 value"),
]
BARCODE_FIELD = Field("barcode", "Barcode", help="EAN-13 or any code printed on the item")


def fields_bound(
    templates: list[Field], values: dict[str, Any], errors: list[dict[str, str]]
) -> list[Field]:
    """Copies of `templates` carrying the submitted values and the first error of each."""
    by_field: dict[str, str] = {}
    for error in errors:
        by_field.setdefault(error.get("field", ""), error["detail"])
    return [
        Field(
            **{
                **template.__dict__,
                "value": values.get(template.name, ""),
                "error": by_field.get(template.name, ""),
            }
        )
        for template in templates
    ]


def post_text(data, name: str) -> str:
    return str(data.get(name, ""))[:10_000]
