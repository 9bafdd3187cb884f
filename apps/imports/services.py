"""Import jobs: upload, validate (preview), confirm, apply, cancel, retry.

The screens, the Celery tasks and the `import_catalog` / `import_stock` commands all go
through these functions. Validation reads only and keeps what it would write (its plan,
plans.py); applying writes that plan when nothing the preview read has changed since
(_preview_kept), and otherwise validates again against the current database and writes
the difference, so running it twice writes nothing twice.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import marshal
import uuid
import zlib
from collections import defaultdict
from operator import attrgetter
from pathlib import PurePath

from celery import current_app
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.catalog.bulk_write import catalog_bulk_write
from apps.catalog.models import Barcode, LocationPrice, Product, Variant
from apps.catalog.services import CATALOG_STREAM
from apps.core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from apps.core.events import location_stream, on_commit, streams_last_seq
from apps.inventory.ledger import Actor, StockChange, stock_apply_batches
from apps.inventory.models import IMPORT_REFERENCE_TYPE, StockLevel
from apps.stores.models import Location
from apps.stores.selectors import location_list_managed

from .cells import printable
from .errors import FileRefused
from .exports import error_file_write
from .formats import format_detect, header_map, kind_of, rows_map, shopify_rows
from .models import ImportJob
from .parsers import XLSX_NAMES, Table, size_message, table_read
from .plans import plan_delete, plan_load, plan_store
from .validation import Preview, catalog_preview, locations_for
from .validation_stock import stock_preview

logger = logging.getLogger(__name__)

Status = ImportJob.Status
ERRORS_KEPT = 1000
STOCK_BATCH = 5000
# On PostgreSQL big batches take the set-based ledger path (inventory.ledger_bulk), whose
# cost per batch is a few round trips: fewer, bigger batches (progress and cancel are
# still checked between them).
STOCK_BATCH_BULK = 25_000
# Past this many rows an applied import refreshes the planner's statistics at once.
ANALYZE_AFTER_ROWS = 10_000
BY_VARIANT = attrgetter("variant_id")
UNEXPECTED_VALIDATE = (
    "This file could not be checked because of an unexpected error (it has been logged). "
    "Nothing was written: check the file and upload it again."
)
UNEXPECTED_APPLY = (
    "The import stopped because of an unexpected error (it has been logged). Nothing was "
    "written: upload the file again."
)


class ImportCancelled(Exception):
    pass


def _may_import(actor, kind: str | None) -> None:
    if actor is None:
        return  # the command line
    if kind in (ImportJob.Kind.CATALOG, ImportJob.Kind.SHOPIFY) and not actor.is_hq:
        raise PermissionDenied("Only head office may import the catalog.")
    if not actor.is_hq and not location_list_managed(actor).exists():
        raise PermissionDenied("You do not manage any location, so you may not import.")


def import_job_create(
    *,
    actor,
    filename: str,
    content,
    kind: str = "",
    mode: str = ImportJob.Mode.ALL_OR_NOTHING,
    location: Location | None = None,
    run_now: bool = False,
) -> ImportJob:
    """Store the upload durably and queue its validation (or run it, `run_now`).

    Raises FileRefused (too big, empty) and PermissionDenied."""
    _may_import(actor, kind or None)
    size = content.size if hasattr(content, "size") else len(content)
    if size > settings.OMO_IMPORT_MAX_BYTES:
        raise FileRefused(size_message(size))
    if size == 0:
        raise FileRefused("The file is empty.")
    if mode not in ImportJob.Mode.values:
        raise ValidationFailed.for_field("mode", f"Unknown mode {mode!r}.")
    if (
        location is not None
        and actor is not None
        and not location_list_managed(actor).filter(pk=location.pk).exists()
    ):
        raise PermissionDenied(f"You may not import stock into {location.code}.")
    safe_name = PurePath(filename).name[-120:] or "upload"
    path = default_storage.save(
        f"imports/{uuid.uuid4().hex}/{safe_name}",
        content if hasattr(content, "chunks") else ContentFile(content),
    )
    with transaction.atomic():
        job = ImportJob.objects.create(
            kind=kind,
            mode=mode,
            file=path,
            original_filename=safe_name,
            file_size=size,
            uploaded_by=actor,
            location=location,
        )
        if not run_now:
            job_id = job.pk
            on_commit(lambda: _enqueue("validate", job_id))
    if run_now:
        import_job_validate(job_id=job.pk)
        job.refresh_from_db()
    return job


def _enqueue(step: str, job_id: int) -> None:
    # By name: tasks.py imports this module, so this one cannot import it back.
    current_app.tasks[f"imports.{step}"].delay(job_id)


def _statistics_refresh_after_commit(preview: Preview) -> None:
    # A task of its own: the job is applied (committed, shown) before the ANALYZE, and
    # the worker that applied it is free for the next job half a second sooner.
    if preview.rows_total >= ANALYZE_AFTER_ROWS and connection.vendor == "postgresql":
        on_commit(_statistics_refresh_queue)


def _statistics_refresh_queue() -> None:
    current_app.tasks["imports.statistics_refresh"].delay()


def _preview_build(job: ImportJob, *, progress: bool = False) -> Preview:
    """Parse and validate the job's file (reads only). Raises FileRefused."""
    # Before anything else is read: a change that commits after this moves a stream
    # past what is recorded here, so the apply cannot mistake it for "nothing changed".
    streams = streams_last_seq(names=[CATALOG_STREAM], prefix=location_stream(""))
    with default_storage.open(job.file, "rb") as handle:
        data = handle.read(settings.OMO_IMPORT_MAX_BYTES + 1)
    digest = hashlib.sha256(data).hexdigest()
    if job.sha256 != digest:
        ImportJob.objects.filter(pk=job.pk).update(sha256=digest)
        job.sha256 = digest
    table = _table_read_once(job, data, digest)
    file_format = format_detect(table.header)
    kind = kind_of(file_format)
    if job.kind and job.kind != kind:
        raise FileRefused(
            f"This file is a {ImportJob.Kind(kind).label.lower()}, not a "
            f"{ImportJob.Kind(job.kind).label.lower()}: pick the right kind or let it be detected."
        )
    if kind != "stock" and job.uploaded_by is not None and not job.uploaded_by.is_hq:
        raise FileRefused(
            "Only head office may import the catalog; store managers may import stock sheets."
        )
    mapping, missing, unknown = header_map(table, file_format)
    if missing:
        raise FileRefused(
            "Missing required column(s): " + ", ".join(f"`{m}`" for m in missing) + "."
        )
    rows = rows_map(table, mapping)
    if not rows:
        raise FileRefused("The file has a header but no rows.")
    report = None
    if progress:
        ImportJob.objects.filter(pk=job.pk).update(rows_total=len(rows), rows_done=0, kind=kind)

        def report(done: int) -> None:
            # Validation runs in autocommit: the page's poll sees each chunk's count.
            ImportJob.objects.filter(pk=job.pk).update(rows_done=done)

    actor = job.uploaded_by
    if kind == "stock":
        preview = stock_preview(rows, actor=actor, progress=report)
        _deltas_already_applied(job, rows, preview)
    else:
        location_code = job.location.code if job.location else None
        if kind == "shopify":
            rows = shopify_rows(rows, location_code)
        preview = catalog_preview(rows, actor=actor, kind=kind, progress=report)
        if kind == "shopify" and not location_code:
            unknown = [*unknown]
            preview.warnings.append(
                "No location was picked, so Shopify inventory quantities are not imported."
            )
    preview.warnings[:0] = [f"Unknown column `{name}` is ignored." for name in unknown]
    names = [CATALOG_STREAM, *(location_stream(code) for code in sorted(preview.locations))]
    preview.state = {
        "streams": {name: streams.get(name, 0) for name in names},
        "locations": preview.locations,
    }
    # For the error file only: a file without errors lets its ~100 MB of cells (100k
    # rows) go before the apply writes.
    preview.table = table if preview.errors else None
    return preview


TABLE_CACHE_VERSION = 1
# Parsed cells, by content (_table_read_once); apps.imports.retention deletes the ones
# no kept job uses.
CELLS_FOLDER = "imports/cells"


def _table_read_once(job: ImportJob, data: bytes, digest: str) -> Table:
    """The upload's cells, read from the spreadsheet once. The apply validates again
    against the database as it is then, but the same bytes (sha256) give the same
    cells: the validation keeps them in the storage (marshal, compressed) and the apply
    reads them back instead of the xlsx (2.4 of its CPU seconds on 100k rows). Kept by
    content, not by job: the same file uploaded again (a re-import, a retry after a
    refused confirm) is not parsed again either. The name says which file's name
    decided how it was read (a name ending .xlsx that is not a workbook is refused) and
    the row limit it was read under."""
    type_hint = "xlsx" if job.original_filename.lower().endswith(XLSX_NAMES) else "other"
    limit = settings.OMO_IMPORT_MAX_ROWS
    path = f"{CELLS_FOLDER}/v{TABLE_CACHE_VERSION}-{digest}-{type_hint}-{limit}.bin"
    with contextlib.suppress(OSError, ValueError, EOFError, TypeError, zlib.error):
        if default_storage.exists(path):
            with default_storage.open(path, "rb") as handle:
                # Written by the function below into our own storage, never uploaded.
                stored = marshal.loads(zlib.decompress(handle.read()))  # noqa: S302
            header, rows, file_type, encoding, delimiter = stored
            return Table(header, rows, file_type, encoding, delimiter)
    table = table_read(data, job.original_filename)
    kept = (table.header, table.rows, table.file_type, table.encoding, table.delimiter)
    with contextlib.suppress(OSError, ValueError):
        default_storage.save(path, ContentFile(zlib.compress(marshal.dumps(kept), 1)))
    return table


def _deltas_already_applied(job: ImportJob, rows, preview: Preview) -> None:
    """A count (on_hand) imported twice writes nothing the second time by itself; a
    delta would be added again. When this very file was applied before, its delta rows
    are reported unchanged and write nothing (import-format.md: importing the same file
    twice changes nothing the second time)."""
    delta_rows = {row.number for row in rows if row.get("delta")}
    if not delta_rows:
        return
    earlier = (
        ImportJob.objects.filter(
            sha256=job.sha256, kind=ImportJob.Kind.STOCK, status=Status.APPLIED
        )
        .exclude(pk=job.pk)
        .order_by("finished_at", "pk")
        .first()
    )
    if earlier is None:
        return
    preview.stock = [diff for diff in preview.stock if diff.row not in delta_rows]
    for number in delta_rows:
        if number in preview.outcome:
            preview.outcome[number] = "unchanged"
    when = timezone.localtime(earlier.finished_at) if earlier.finished_at else None
    preview.warnings.append(
        f"This file was already imported (import {earlier.pk}"
        + (f", {when:%Y-%m-%d %H:%M}" if when else "")
        + "): its delta rows are not added again. To add stock again, upload a new file."
    )


def _preview_save(job: ImportJob, preview: Preview, **fields) -> None:
    counts = preview.counts()
    error_path = ""
    if preview.errors:
        error_path = error_file_write(job, preview.table, preview.errors)
    ImportJob.objects.filter(pk=job.pk).update(
        kind=preview.kind,
        rows_total=preview.rows_total,
        rows_done=preview.rows_total,
        count_create=counts["create"],
        count_update=counts["update"],
        count_unchanged=counts["unchanged"],
        count_invalid=counts["invalid"],
        row_errors=[e.as_dict() for e in preview.errors[:ERRORS_KEPT]],
        warnings=[printable(warning) for warning in preview.warnings],
        samples=preview.samples(),
        error_file=error_path,
        updated_at=timezone.now(),
        **fields,
    )


@contextlib.contextmanager
def _collector_paused():
    """A validation builds a few million small objects, nearly all alive until it ends
    and none in reference cycles worth finding: the cyclic collector scanning them again
    and again was a quarter of its CPU (30k rows: 2.4 -> 1.8 s). Paused meanwhile."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def import_job_validate(*, job_id: int) -> ImportJob:
    """Parse and validate; the job ends previewed (or refused). Safe to run twice."""
    claimed = ImportJob.objects.filter(
        pk=job_id, status__in=[Status.UPLOADED, Status.VALIDATING]
    ).update(status=Status.VALIDATING, updated_at=timezone.now())
    job = ImportJob.objects.select_related("uploaded_by", "location").get(pk=job_id)
    if not claimed:
        return job
    try:
        # Reads in autocommit (no write lock held while a big file is checked); only the
        # save is atomic, so a failed write can be recorded on the job right after.
        with _collector_paused():
            preview = _preview_build(job, progress=True)
            counts = preview.counts()
            if counts["create"] or counts["update"]:
                preview.state["plan"] = plan_store(job, preview)
            with transaction.atomic():
                _preview_save(
                    job, preview, validated_at=timezone.now(), preview_state=preview.state
                )
            # Freed by reference counting before the collector runs again: otherwise its
            # first pass would scan (and promote) every object of the preview.
            del preview
    except FileRefused as error:
        ImportJob.objects.filter(pk=job_id, status=Status.VALIDATING).update(
            status=Status.REFUSED, message=error.detail, finished_at=timezone.now()
        )
        job.refresh_from_db()
        return job
    except Exception:
        # Whatever a file does to the validation, the job must not stay "validating".
        logger.exception("import %s: validation failed unexpectedly", job_id)
        ImportJob.objects.filter(pk=job_id, status=Status.VALIDATING).update(
            status=Status.REFUSED, message=UNEXPECTED_VALIDATE, finished_at=timezone.now()
        )
        job.refresh_from_db()
        return job
    ImportJob.objects.filter(pk=job_id, status=Status.VALIDATING).update(status=Status.PREVIEWED)
    job.refresh_from_db()
    return job


def import_job_get(*, actor, job_id: int) -> ImportJob:
    """A job its uploader (or HQ) may see; NotFound otherwise."""
    jobs = ImportJob.objects.select_related("uploaded_by", "location")
    if actor is not None and not actor.is_hq:
        jobs = jobs.filter(uploaded_by=actor)
    job = jobs.filter(pk=job_id).first()
    if job is None:
        raise NotFound("No such import.")
    return job


def import_job_confirm(*, actor, job_id: int, mode: str | None = None, run_now: bool = False):
    """previewed -> applying, exactly once (a conditional UPDATE); queue the apply.

    Raises InvalidTransition (confirmed twice, not previewed) and ValidationFailed
    (all-or-nothing with bad rows)."""
    job = import_job_get(actor=actor, job_id=job_id)
    mode = mode or job.mode
    if mode not in ImportJob.Mode.values:
        raise ValidationFailed.for_field("mode", f"Unknown mode {mode!r}.")
    if (
        job.status == Status.PREVIEWED
        and mode == ImportJob.Mode.ALL_OR_NOTHING
        and job.count_invalid
    ):
        raise ValidationFailed(
            f"{job.count_invalid} row(s) have errors and the mode is all-or-nothing: fix the "
            "file and upload it again, or choose to skip bad rows.",
            code="rows_invalid",
        )
    with transaction.atomic():
        claimed = ImportJob.objects.filter(pk=job.pk, status=Status.PREVIEWED).update(
            status=Status.APPLYING,
            mode=mode,
            applying_at=timezone.now(),
            rows_done=0,
            updated_at=timezone.now(),
        )
        if not claimed:
            raise InvalidTransition(
                f"This import is {job.get_status_display().lower()}; it can no longer be confirmed."
            )
        if not run_now:
            on_commit(lambda: _enqueue("apply", job.pk))
    if run_now:
        import_job_apply(job_id=job.pk)
    job.refresh_from_db()
    return job


def _cancel_marker(job: ImportJob) -> str:
    return f"{PurePath(job.file).parent}/cancel"


def _progress_path(job: ImportJob) -> str:
    return f"{PurePath(job.file).parent}/progress.json"


def _progress_write(job: ImportJob, done: int, total: int) -> None:
    # The apply runs in one transaction, which other connections cannot see into (and
    # on SQLite cannot write beside): progress goes to the shared storage instead.
    path = _progress_path(job)
    if default_storage.exists(path):
        default_storage.delete(path)
    default_storage.save(path, ContentFile(json.dumps({"done": done, "total": total}).encode()))
    if default_storage.exists(_cancel_marker(job)):
        raise ImportCancelled


def import_job_progress(job: ImportJob) -> tuple[int, int]:
    if job.status == Status.APPLYING:
        try:
            with default_storage.open(_progress_path(job), "rb") as handle:
                data = json.loads(handle.read())
            return int(data["done"]), int(data["total"])
        except (OSError, ValueError, KeyError):
            return 0, job.rows_total
    return job.rows_done, job.rows_total


def import_job_apply(*, job_id: int) -> ImportJob:
    """Apply a confirmed job in ONE transaction: a crash or a cancel leaves nothing
    half-written and the job "applying" (retryable) or "cancelled". Safe to run twice:
    the second run waits for the first's lock and finds the job no longer applying."""
    job = ImportJob.objects.select_related("uploaded_by", "location").get(pk=job_id)
    if job.status != Status.APPLYING:
        return job
    try:
        # The validation and the write keep millions of small objects alive until the
        # end (~10 per stock change), none in cycles: the collector is paused, as in
        # the validation step (its rescans were ~15% of the write's CPU).
        with _collector_paused(), transaction.atomic():
            # Every job of the same file, locked in id order: two uploads of one delta
            # sheet confirmed at once apply one after the other, and the second then
            # finds the first applied (_deltas_already_applied) and adds nothing.
            same_file = Q(pk=job_id) | Q(sha256=job.sha256) if job.sha256 else Q(pk=job_id)
            locked = {
                other.pk: other
                for other in ImportJob.objects.select_for_update().filter(same_file).order_by("pk")
            }.get(job_id)
            if locked is None or locked.status != Status.APPLYING:
                return job
            preview = _preview_kept(locked, actor=job.uploaded_by)
            if preview is not None:
                # Nothing the preview read has changed: the same validation would find
                # the same. Its plan is written; its counts, errors and error file stay.
                movements = _write(job, preview)
                if movements or preview.catalog_plan is not None:
                    _statistics_refresh_after_commit(preview)
                    on_commit(lambda: plan_delete(job))
                ImportJob.objects.filter(pk=job_id).update(
                    status=Status.APPLIED,
                    rows_done=locked.rows_total,
                    stock_movements=movements,
                    finished_at=timezone.now(),
                    updated_at=timezone.now(),
                )
                job.refresh_from_db()
                return job
            preview = _preview_build(job)
            if preview.errors and job.mode == ImportJob.Mode.ALL_OR_NOTHING:
                _preview_save(
                    job,
                    preview,
                    status=Status.FAILED,
                    finished_at=timezone.now(),
                    message="The data changed since the preview: rows are now invalid; "
                    "nothing was written.",
                )
                job.refresh_from_db()
                return job
            movements = _write(job, preview)
            _statistics_refresh_after_commit(preview)
            on_commit(lambda: plan_delete(job))
            _preview_save(
                job,
                preview,
                status=Status.APPLIED,
                finished_at=timezone.now(),
                stock_movements=movements,
            )
    except ImportCancelled:
        ImportJob.objects.filter(pk=job_id, status=Status.APPLYING).update(
            status=Status.CANCELLED,
            finished_at=timezone.now(),
            message="Cancelled: nothing was written.",
        )
    except FileRefused as error:
        ImportJob.objects.filter(pk=job_id, status=Status.APPLYING).update(
            status=Status.FAILED, finished_at=timezone.now(), message=error.detail
        )
    except Exception:
        # The transaction rolled back: nothing was written. A job must not stay
        # "applying" because of what its file contains; a killed worker (not an
        # exception) still leaves it applying, for import_job_retry.
        logger.exception("import %s: apply failed unexpectedly", job_id)
        ImportJob.objects.filter(pk=job_id, status=Status.APPLYING).update(
            status=Status.FAILED, finished_at=timezone.now(), message=UNEXPECTED_APPLY
        )
    job.refresh_from_db()
    return job


def _preview_kept(job: ImportJob, *, actor) -> Preview | None:
    """What the job's preview would write, when nothing it read can have changed since;
    None when the file must be validated again. Unchanged means: the catalog stream and
    the stream of every location the file names are where they were when the preview
    began reading (every catalog change and every stock movement moves one of them), the
    same locations exist and the uploader may still import and manage the same ones. A
    preview with something to write needs its stored plan (plans.plan_store). The streams
    are read, not locked: a sale committed between this check and the write is not seen,
    the same window as validating again, which also reads before it writes."""
    state = job.preview_state or {}
    streams, locations = state.get("streams"), state.get("locations")
    if streams is None or locations is None:
        return None
    if job.count_invalid and job.mode == ImportJob.Mode.ALL_OR_NOTHING:
        return None
    current = streams_last_seq(names=streams)
    if any(current.get(name, 0) != seq for name, seq in streams.items()):
        return None
    try:
        _may_import(actor, job.kind or None)
    except PermissionDenied:
        return None
    found, managed = locations_for(set(locations), actor)
    if {code: code in managed for code in found} != locations:
        return None
    if not (job.count_create or job.count_update):
        return Preview(kind=job.kind, rows_total=job.rows_total)
    return plan_load(state["plan"]) if state.get("plan") else None


def statistics_refresh() -> None:
    """ANALYZE the tables a big import fills, in a task queued when it commits
    (PostgreSQL).

    Autovacuum would, but only on its next round (up to a minute, longer when busy);
    until then the planner keeps the row estimates of before the import and the POS
    catalog sync hashes and sorts the whole catalog for every page (measured: 115 ms
    instead of 4 ms a page at 100,000 variants). The ledger tables are append-mostly
    and read by index; autovacuum keeps up with them.
    """
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(
        connection.ops.quote_name(model._meta.db_table)
        for model in (Product, Variant, Barcode, LocationPrice, StockLevel)
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {tables}")
    except Exception:  # statistics are an optimisation: never fail a committed import
        logger.warning("import: ANALYZE after the apply failed", exc_info=True)


def _stock_changes(stock, ids: dict[str, int]):
    """The stock differences as StockChanges by location, each location's in variant
    order (the ledger's lock order), for those whose SKU is in `ids`; and the
    differences whose SKU is not."""
    by_location: dict[int, list[StockChange]] = defaultdict(list)
    unknown = []
    for diff in stock:
        variant_id = ids.get(diff.sku)
        if variant_id is None:
            unknown.append(diff)
            continue
        by_location[diff.location_id].append(
            StockChange(
                variant_id=variant_id,
                location_id=diff.location_id,
                reason="import",
                on_hand=diff.delta,
            )
        )
    for changes in by_location.values():
        changes.sort(key=BY_VARIANT)  # stable: one variant's rows keep the file's order
    return by_location, unknown


def _write(job: ImportJob, preview: Preview) -> int:
    total = preview.rows_total
    _progress_write(job, 0, total)
    plan = preview.catalog_plan
    built = []
    if plan is not None:
        # The catalog write knows the ids of its variants: their stock changes are built
        # while it writes their barcodes (Python beside the server, not after it).
        catalog_bulk_write(
            plan=plan,
            meanwhile=(lambda: built.append(_stock_changes(preview.stock, plan.variant_ids)))
            if preview.stock
            else None,
        )
        _progress_write(job, total // 2 if preview.stock else total, total)
    if not preview.stock:
        return 0
    # Without a catalog plan no SKU's id is known yet: all are read.
    by_location, unknown = built[0] if built else (defaultdict(list), list(preview.stock))
    # Only the ids of the others are read.
    missing = sorted({diff.sku for diff in unknown})
    ids: dict[str, int] = {}
    for start in range(0, len(missing), 4000):
        ids.update(
            Variant.objects.filter(sku__in=missing[start : start + 4000]).values_list("sku", "id")
        )
    found, not_found = _stock_changes(unknown, ids)
    if not_found:
        raise KeyError(not_found[0].sku)  # a SKU the validation found has gone
    for location_id, changes in found.items():
        by_location[location_id] += changes
        by_location[location_id].sort(key=BY_VARIANT)
    # The new SKUs' levels are created in one write with their balances (ledger_bulk).
    created = plan.created_variant_ids if plan is not None else ()
    # Every change's SKU, so that the ledger does not read them back for the events.
    skus = {variant_id: sku for sku, variant_id in ids.items()}
    if plan is not None:
        skus.update((variant_id, sku) for sku, variant_id in plan.variant_ids.items())
    size = STOCK_BATCH_BULK if connection.vendor == "postgresql" else STOCK_BATCH
    batches = [
        changes[start : start + size]
        for _, changes in sorted(by_location.items())
        for start in range(0, len(changes), size)
    ]
    written = number = 0

    def after_batch(applied) -> None:
        # Progress and the cancel check between batches, as the ledger writes them.
        nonlocal written, number
        written += len(applied.movements)
        number += 1
        done = total // 2 + (total - total // 2) * number // len(batches)
        _progress_write(job, done if plan is not None else total * number // len(batches), total)

    stock_apply_batches(
        batches=batches,
        actor=Actor.of(job.uploaded_by),
        reference_type=IMPORT_REFERENCE_TYPE,
        reference_id=str(job.pk),
        created_variant_ids=created,
        variant_skus=skus,
        after_batch=after_batch,
    )
    return written


def import_job_cancel(*, actor, job_id: int) -> ImportJob:
    """Cancel a job not yet applied; an applying job stops at its next batch and rolls
    back. Raises InvalidTransition for a finished job."""
    job = import_job_get(actor=actor, job_id=job_id)
    cancelled = ImportJob.objects.filter(
        pk=job.pk, status__in=[Status.UPLOADED, Status.VALIDATING, Status.PREVIEWED]
    ).update(
        status=Status.CANCELLED,
        finished_at=timezone.now(),
        message="Cancelled before anything was written.",
    )
    if not cancelled:
        if job.status != Status.APPLYING:
            raise InvalidTransition(f"This import is already {job.get_status_display().lower()}.")
        default_storage.save(_cancel_marker(job), ContentFile(b"cancel"))
    job.refresh_from_db()
    return job


def import_job_retry(*, actor, job_id: int, run_now: bool = False) -> ImportJob:
    """Re-queue a job left "applying" by a worker that died. Applying computes the
    difference against the database as it is, so a retry never writes anything twice."""
    job = import_job_get(actor=actor, job_id=job_id)
    if job.status != Status.APPLYING:
        raise InvalidTransition(
            "Only an import stuck in applying can be retried; this one is "
            f"{job.get_status_display().lower()}."
        )
    if run_now:
        return import_job_apply(job_id=job.pk)
    on_commit(lambda: _enqueue("apply", job.pk))
    return job


def import_job_summary(job: ImportJob) -> dict:
    return {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "mode": job.mode,
        "file": job.original_filename,
        "message": job.message,
        "counts": {
            "create": job.count_create,
            "update": job.count_update,
            "unchanged": job.count_unchanged,
            "invalid": job.count_invalid,
        },
        "stock_movements": job.stock_movements,
        "warnings": job.warnings,
        "errors": job.row_errors,
    }
