from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.errors import DomainError, NotFound
from apps.core.htmx import render_page
from apps.core.presence import connected_counts
from apps.stores.selectors import location_list_managed

from .forms import ApiClientCreateForm, LoginForm
from .selectors import api_client_can_manage_any, api_client_get_visible, api_client_list_visible
from .services import api_client_create, api_client_revoke

DEVICES_TEMPLATE = "accounts/devices.html"


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


def _require_device_manager(user) -> None:
    # Associates and HQ-less users have nothing to manage here; the screen is not theirs.
    if not api_client_can_manage_any(user):
        raise DjangoPermissionDenied("Only HQ and store managers manage API clients.")


def _devices_page(request, form, *, created=None, key=None, status=200):
    clients = list(api_client_list_visible(request.user))
    # Open /ws/pos/ connections per client id, across every web process.
    connections = connected_counts()
    for client in clients:
        client.open_connections = connections.get(client.pk, 0)
    context = {
        "clients": clients,
        "form": form,
        "created": created,
        "key": key,
    }
    response = render_page(request, DEVICES_TEMPLATE, context, fragment="devices", status=status)
    if key:
        # The key is shown once: no cache (browser, proxy) may keep this response.
        add_never_cache_headers(response)
        response["Cache-Control"] += ", no-store"
    return response


def _create_form(request, data=None):
    initial = {"location": request.location.code} if request.location else {}
    return ApiClientCreateForm(
        data,
        initial=initial,
        user=request.user,
        managed_locations=location_list_managed(request.user),
    )


@login_required
@require_GET
def device_list(request):
    _require_device_manager(request.user)
    return _devices_page(request, _create_form(request))


@login_required
@require_http_methods(["GET", "POST"])
def device_create(request):
    _require_device_manager(request.user)
    if request.method == "GET":
        # The no-JavaScript form posts here; this URL has no page of its own.
        return redirect("accounts:devices")
    form = _create_form(request, request.POST)
    if not form.is_valid():
        if form.location_was_tampered():
            raise Http404("No such location.")
        return _devices_page(request, form, status=400)
    try:
        client, key = api_client_create(
            actor=request.user,
            kind=form.cleaned_data["kind"],
            name=form.cleaned_data["name"],
            location=form.cleaned_data["location"],
        )
    except DomainError as error:
        _add_domain_error(form, error)
        return _devices_page(request, form, status=error.status_code)
    return _devices_page(request, _create_form(request), created=client, key=key)


@login_required
@require_POST
def device_revoke(request, client_id: int):
    _require_device_manager(request.user)
    try:
        client = api_client_get_visible(request.user, client_id)
        client = api_client_revoke(actor=request.user, client=client)
    except NotFound as error:
        raise Http404(error.detail) from error
    if request.htmx:
        return _devices_page(request, _create_form(request))
    messages.success(request, f"{client.name} is revoked: its key no longer works.")
    return redirect("accounts:devices")


def _add_domain_error(form, error: DomainError) -> None:
    field_errors = [item for item in error.errors if item.get("field") in form.fields]
    for item in field_errors:
        form.add_error(item["field"], item["detail"])
    if not field_errors:
        form.add_error(None, error.detail)
