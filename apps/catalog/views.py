"""Catalog screens: the product list, a product's page, create and edit (HQ only).

Thin: parse the request, call one selector or service, render. Errors from services are
shown in the form with their status (400 invalid, 403 not HQ, 404 unknown)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.errors import DomainError, NotFound
from apps.core.htmx import render_page
from apps.stores.selectors import location_list_visible

from . import selectors, services
from .forms import (
    BARCODE_FIELD,
    PRODUCT_FIELDS,
    VARIANT_FIELDS,
    ProductFilterForm,
    fields_bound,
    post_text,
)


def _forbidden(request, detail: str = "Only HQ admins change the catalog.") -> HttpResponse:
    return render_page(request, "catalog/forbidden.html", {"detail": detail}, status=403)


def _or_404(getter, *args):
    try:
        return getter(*args)
    except NotFound as error:
        raise Http404(error.detail) from error


# --- the list -------------------------------------------------------------------------


@login_required
def product_list(request):
    form = ProductFilterForm(request.GET)
    form.is_valid()
    problems = [
        f"{form.fields[name].label or name}: {' '.join(errs)}" for name, errs in form.errors.items()
    ]
    category = None
    category_id = form.value("category")
    if category_id is not None:
        try:
            category = selectors.category_get(category_id)
        except NotFound:
            problems.append("Unknown category: showing every category.")
    active_choice = form.value("active", "")
    active = {"yes": True, "no": False}.get(active_choice)
    page = selectors.product_page(
        query=form.value("q", ""),
        category=category,
        brand=form.value("brand", ""),
        active=active,
        page=form.value("page", 1),
    )
    params = QueryDict(mutable=True)
    for name in ("q", "brand"):
        if form.value(name):
            params[name] = form.value(name)
    if category is not None:
        params["category"] = str(category.pk)
    if active_choice:
        params["active"] = active_choice
    context = {
        "page": page,
        "query": form.value("q", ""),
        "selected_category": category,
        "selected_brand": form.value("brand", ""),
        "selected_active": active_choice,
        "categories": selectors.category_list(),
        "brands": selectors.brand_list(),
        "problems": problems,
        "base_query": params.urlencode(),
        "can_edit": request.user.is_hq,
    }
    return render_page(request, "catalog/product_list.html", context, fragment="results")


# --- one product ----------------------------------------------------------------------


def _detail_context(request, product_id: int, **extra: Any) -> dict[str, Any]:
    detail = _or_404(
        lambda pk: selectors.product_detail(actor=request.user, product_id=pk), product_id
    )
    return {"detail": detail, "product": detail.product, "can_edit": request.user.is_hq, **extra}


@login_required
def product_detail(request, pk: int):
    return render_page(request, "catalog/product_detail.html", _detail_context(request, pk))


def _product_values(data) -> dict[str, Any]:
    return {
        "name": post_text(data, "name"),
        "handle": post_text(data, "handle"),
        "brand": post_text(data, "brand"),
        "category": post_text(data, "category"),
        "description": post_text(data, "description"),
        "active": bool(data.get("active")),
    }


def _variant_values(data) -> dict[str, Any]:
    values = {field.name: post_text(data, field.name) for field in VARIANT_FIELDS}
    values["tracking"] = values["tracking"] or "none"
    return values


def _render_product_form(request, *, product, values, errors, status=200, with_variant=True):
    fields = fields_bound(PRODUCT_FIELDS, values, errors)
    variant_fields = (
        fields_bound([*VARIANT_FIELDS, BARCODE_FIELD], values, errors) if with_variant else []
    )
    known = {field.name for field in fields + variant_fields}
    other_errors = [e["detail"] for e in errors if e.get("field") not in known]
    return render_page(
        request,
        "catalog/product_form.html",
        {
            "product": product,
            "fields": fields,
            "variant_fields": variant_fields,
            "other_errors": other_errors,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def product_create(request):
    if not request.user.is_hq:
        return _forbidden(request)
    if request.method == "GET":
        return _render_product_form(
            request, product=None, values={"active": True, "tracking": "none"}, errors=[]
        )
    values = {**_product_values(request.POST), **_variant_values(request.POST)}
    values["barcode"] = post_text(request.POST, "barcode")
    try:
        product = services.product_create(
            actor=request.user,
            name=values["name"],
            handle=values["handle"],
            brand=values["brand"],
            description=values["description"],
            category_path=values["category"],
            active=values["active"],
            variant={
                **values,
                "options": services.options_from_data(values),
            },
        )
    except DomainError as error:
        if error.status_code == 403:
            return _forbidden(request, error.detail)
        return _render_product_form(
            request,
            product=None,
            values=values,
            errors=error.errors or [{"field": "", "detail": error.detail}],
            status=error.status_code,
        )
    return redirect("catalog:product", pk=product.pk)


@login_required
@require_http_methods(["GET", "POST"])
def product_edit(request, pk: int):
    product = _or_404(selectors.product_get, pk)
    if not request.user.is_hq:
        return _forbidden(request)
    if request.method == "GET":
        values = {
            "name": product.name,
            "handle": product.handle,
            "brand": product.brand,
            "category": product.category.path if product.category else "",
            "description": product.description,
            "active": product.active,
        }
        return _render_product_form(
            request, product=product, values=values, errors=[], with_variant=False
        )
    values = _product_values(request.POST)
    try:
        services.product_update(
            actor=request.user,
            product=product,
            name=values["name"],
            handle=values["handle"],
            brand=values["brand"],
            description=values["description"],
            category_path=values["category"],
            active=values["active"],
        )
    except DomainError as error:
        if error.status_code == 403:
            return _forbidden(request, error.detail)
        return _render_product_form(
            request,
            product=product,
            values=values,
            errors=error.errors or [{"field": "", "detail": error.detail}],
            status=error.status_code,
            with_variant=False,
        )
    return redirect("catalog:product", pk=product.pk)


@login_required
@require_POST
def product_validate(request):
    """Inline validation: the error (or nothing) for the field that changed, rendered
    under it. Asks the same checks the save runs; writes nothing."""
    if not request.user.is_hq:
        return _forbidden(request)
    field = request.headers.get("HX-Trigger-Name") or request.POST.get("_field", "")
    data = {key: post_text(request.POST, key) for key in request.POST if not key.startswith("_")}
    product = variant = None
    try:
        if request.POST.get("_product"):
            product = selectors.product_get(int(request.POST["_product"]))
        if request.POST.get("_variant"):
            variant = selectors.variant_get(int(request.POST["_variant"]))
    except (NotFound, ValueError):
        pass
    errors = services.product_input_check(product=product, variant=variant, data=data)
    detail = next((e["detail"] for e in errors if e["field"] == field), "")
    return HttpResponse(
        format_html(
            '<small class="field-error" id="error-{}" data-field="{}">{}</small>',
            field,
            field,
            detail,
        )
    )


# --- variants -------------------------------------------------------------------------


def _render_variant_form(request, *, product, variant, values, errors, status=200):
    templates = VARIANT_FIELDS if variant else [*VARIANT_FIELDS, BARCODE_FIELD]
    fields = fields_bound(templates, values, errors)
    known = {field.name for field in fields}
    return render_page(
        request,
        "catalog/variant_form.html",
        {
            "product": product,
            "variant": variant,
            "fields": fields,
            "other_errors": [e["detail"] for e in errors if e.get("field") not in known],
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def variant_create(request, pk: int):
    product = _or_404(selectors.product_get, pk)
    if not request.user.is_hq:
        return _forbidden(request)
    if request.method == "GET":
        return _render_variant_form(
            request, product=product, variant=None, values={"tracking": "none"}, errors=[]
        )
    values = _variant_values(request.POST)
    values["barcode"] = post_text(request.POST, "barcode")
    try:
        services.variant_create(
            actor=request.user,
            product=product,
            sku=values["sku"],
            price=values["price"],
            compare_at_price=values["compare_at_price"],
            cost=values["cost"],
            options=services.options_from_data(values),
            tracking=values["tracking"],
            barcode=values["barcode"],
        )
    except DomainError as error:
        if error.status_code == 403:
            return _forbidden(request, error.detail)
        return _render_variant_form(
            request,
            product=product,
            variant=None,
            values=values,
            errors=error.errors or [{"field": "", "detail": error.detail}],
            status=error.status_code,
        )
    return redirect("catalog:product", pk=product.pk)


@login_required
@require_http_methods(["GET", "POST"])
def variant_edit(request, pk: int):
    variant = _or_404(selectors.variant_get, pk)
    if not request.user.is_hq:
        return _forbidden(request)
    if request.method == "GET":
        values = {field.name: getattr(variant, field.name) or "" for field in VARIANT_FIELDS}
        return _render_variant_form(
            request, product=variant.product, variant=variant, values=values, errors=[]
        )
    values = _variant_values(request.POST)
    try:
        services.variant_update(
            actor=request.user,
            variant=variant,
            sku=values["sku"],
            price=values["price"],
            compare_at_price=values["compare_at_price"],
            cost=values["cost"],
            options=services.options_from_data(values),
            tracking=values["tracking"],
            name=variant.name,
        )
    except DomainError as error:
        if error.status_code == 403:
            return _forbidden(request, error.detail)
        return _render_variant_form(
            request,
            product=variant.product,
            variant=variant,
            values=values,
            errors=error.errors or [{"field": "", "detail": error.detail}],
            status=error.status_code,
        )
    return redirect("catalog:product", pk=variant.product_id)


def _product_action(request, product_id: int, action) -> HttpResponse:
    """Run a small write from the product page; on error show the page with it."""
    try:
        action()
    except DomainError as error:
        context = _detail_context(request, product_id, action_error=error.detail)
        return render_page(
            request, "catalog/product_detail.html", context, status=error.status_code
        )
    return redirect("catalog:product", pk=product_id)


@login_required
@require_POST
def variant_set_active(request, pk: int):
    variant = _or_404(selectors.variant_get, pk)
    service = (
        services.variant_activate
        if request.POST.get("active") == "1"
        else services.variant_deactivate
    )
    return _product_action(
        request, variant.product_id, lambda: service(actor=request.user, variant=variant)
    )


@login_required
@require_POST
def barcode_add(request, pk: int):
    variant = _or_404(selectors.variant_get, pk)
    code = post_text(request.POST, "code")
    return _product_action(
        request,
        variant.product_id,
        lambda: services.barcode_add(actor=request.user, variant=variant, code=code),
    )


@login_required
@require_POST
def barcode_remove(request, pk: int):
    barcode = _or_404(selectors.barcode_get, pk)
    return _product_action(
        request,
        barcode.variant.product_id,
        lambda: services.barcode_remove(actor=request.user, barcode=barcode),
    )


@login_required
@require_POST
def location_price_set(request, pk: int):
    """Set the price at a location; an empty price goes back to the base price."""
    variant = _or_404(selectors.variant_get, pk)
    code = post_text(request.POST, "location")
    location = (
        location_list_visible(request.user).filter(code=code).first()
        if code.isprintable()
        else None
    )
    if location is None:
        raise Http404("No such location.")
    price = post_text(request.POST, "price").strip()

    def action():
        if price:
            services.location_price_set(
                actor=request.user, variant=variant, location=location, price=price
            )
        else:
            services.location_price_clear(actor=request.user, variant=variant, location=location)

    return _product_action(request, variant.product_id, action)
