"""Import screens: thin views over apps.imports.services (htmx, session auth)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from apps.core.errors import DomainError, NotFound
from apps.core.htmx import render_page
from apps.stores.selectors import location_list_managed

from . import services
from .exports import CONTENT_TYPES, catalog_export, stock_export, template_file
from .models import ImportJob
from .selectors import import_job_list


class UploadForm(forms.Form):
    file = forms.FileField(label="Spreadsheet (.xlsx or .csv)")
    kind = forms.ChoiceField(
        choices=[("", "Detect from the header"), *ImportJob.Kind.choices], required=False
    )
    mode = forms.ChoiceField(choices=ImportJob.Mode.choices, initial=ImportJob.Mode.ALL_OR_NOTHING)
    location = forms.ModelChoiceField(
        queryset=None,
        required=False,
        to_field_name="code",
        empty_label="(none)",
        help_text="Where Shopify inventory quantities go.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = location_list_managed(user)


def _index(request, form, status=200):
    jobs = import_job_list(actor=request.user)[:50]
    return render_page(
        request, "imports/index.html", {"form": form, "jobs": jobs}, fragment="jobs", status=status
    )


@login_required
def index(request):
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES, user=request.user)
        if not form.is_valid():
            return _index(request, form, status=400)
        upload = form.cleaned_data["file"]
        try:
            job = services.import_job_create(
                actor=request.user,
                filename=upload.name,
                content=upload,
                kind=form.cleaned_data["kind"],
                mode=form.cleaned_data["mode"],
                location=form.cleaned_data["location"],
            )
        except DomainError as error:
            form.add_error(None, error.detail)
            return _index(request, form, status=error.status_code)
        return redirect("imports:job", job_id=job.pk)
    return _index(request, UploadForm(user=request.user))


def _job_page(request, job, *, error: str = "", status: int = 200, fragment: str = "job"):
    done, total = services.import_job_progress(job)
    percent = min(100, round(100 * done / total)) if total else 0
    context = {
        "job": job,
        "done": done,
        "total": total,
        "percent": percent,
        "error": error,
        "retention_days": settings.OMO_IMPORT_RETENTION_DAYS,
    }
    return render_page(request, "imports/job.html", context, fragment=fragment, status=status)


def _job(request, job_id: int) -> ImportJob:
    try:
        return services.import_job_get(actor=request.user, job_id=job_id)
    except NotFound as error:
        raise Http404(error.detail) from error


@login_required
def job_detail(request, job_id: int):
    return _job_page(request, _job(request, job_id))


@login_required
@require_POST
def job_confirm(request, job_id: int):
    job = _job(request, job_id)
    try:
        services.import_job_confirm(
            actor=request.user, job_id=job.pk, mode=request.POST.get("mode") or None
        )
    except DomainError as error:
        job.refresh_from_db()
        return _job_page(request, job, error=error.detail, status=error.status_code)
    return redirect("imports:job", job_id=job.pk)


@login_required
@require_POST
def job_cancel(request, job_id: int):
    job = _job(request, job_id)
    try:
        services.import_job_cancel(actor=request.user, job_id=job.pk)
    except DomainError as error:
        job.refresh_from_db()
        return _job_page(request, job, error=error.detail, status=error.status_code)
    return redirect("imports:job", job_id=job.pk)


@login_required
@require_POST
def job_retry(request, job_id: int):
    job = _job(request, job_id)
    try:
        services.import_job_retry(actor=request.user, job_id=job.pk)
    except DomainError as error:
        return _job_page(request, job, error=error.detail, status=error.status_code)
    return redirect("imports:job", job_id=job.pk)


@login_required
def job_errors(request, job_id: int):
    job = _job(request, job_id)
    if not job.error_file or job.purged_at or not default_storage.exists(job.error_file):
        raise Http404("This import has no error file.")
    try:
        handle = default_storage.open(job.error_file, "rb")
    except FileNotFoundError:  # purged since the check above
        raise Http404("This import has no error file.") from None
    name = job.error_file.rsplit("/", 1)[-1]
    return FileResponse(handle, as_attachment=True, filename=name)


def _download(data: bytes, filename: str, file_type: str) -> HttpResponse:
    response = HttpResponse(data, content_type=CONTENT_TYPES[file_type])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def template_download(request, kind: str, file_type: str):
    if kind not in ("catalog", "stock") or file_type not in CONTENT_TYPES:
        raise Http404
    return _download(template_file(kind, file_type), f"omo-{kind}-template.{file_type}", file_type)


@login_required
def export_download(request, kind: str, file_type: str):
    if kind not in ("catalog", "stock") or file_type not in CONTENT_TYPES:
        raise Http404
    if kind == "catalog":
        if not request.user.is_hq:
            raise Http404
        data = catalog_export(actor=request.user, file_type=file_type)
    else:
        data = stock_export(actor=request.user, file_type=file_type)
    return _download(data, f"omo-{kind}.{file_type}", file_type)
