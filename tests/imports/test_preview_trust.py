"""An apply trusts a preview that found nothing to write only while nothing it read has
changed since; any change in between (a price, a stock count, a reservation, a
permission) makes it validate the file again against the database as it is."""

from decimal import Decimal

from django.db import transaction

from apps.accounts.models import Membership
from apps.catalog.models import Variant
from apps.catalog.services import variant_update
from apps.imports import services
from apps.imports.services import import_job_confirm
from apps.inventory.ledger import Actor, StockChange, stock_apply
from apps.inventory.models import Movement, StockLevel

from .helpers import HEADER, csv_bytes, run

CATALOG = csv_bytes(
    [
        ["A", "tee", "Tee", "10", "111", "Women > Tops", "9", "5"],
        ["B", "tee", "", "11", "", "", "", "2"],
    ],
    header=[*HEADER, "price@SA1", "stock@SA1"],
)
STOCK = b"sku,location,on_hand\nA,SA1,5\nB,SA1,2\n"


def applied(actor, data, filename="file.csv", **kwargs):
    job = run(actor, data, filename=filename, **kwargs)
    assert job.status == "previewed", job.message
    return import_job_confirm(actor=actor, job_id=job.pk, run_now=True)


def validations(monkeypatch) -> list[int]:
    """The ids of the jobs whose file is validated from here on."""
    calls: list[int] = []
    real = services._preview_build

    def counted(job, **kwargs):
        calls.append(job.pk)
        return real(job, **kwargs)

    monkeypatch.setattr(services, "_preview_build", counted)
    return calls


def stock_move(sku, location, *, on_hand=0, reserved=0, reason="receipt"):
    variant = Variant.objects.get(sku=sku)
    with transaction.atomic():
        stock_apply(
            changes=[StockChange(variant.pk, location.pk, reason, on_hand, reserved)],
            actor=Actor(),
        )


def test_unchanged_file_applies_without_validating_again(hq_admin, store_a, monkeypatch):
    applied(hq_admin, CATALOG)
    seqs = dict(Variant.objects.values_list("sku", "change_seq"))
    movements = Movement.objects.count()
    job = run(hq_admin, CATALOG)
    assert (job.count_create, job.count_update, job.count_unchanged) == (0, 0, 2)
    calls = validations(monkeypatch)
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert calls == []
    assert job.status == "applied"
    assert (job.count_create, job.count_update, job.count_unchanged) == (0, 0, 2)
    assert (job.stock_movements, job.rows_done, job.rows_total) == (0, 2, 2)
    assert job.finished_at is not None
    assert Movement.objects.count() == movements
    assert dict(Variant.objects.values_list("sku", "change_seq")) == seqs


def test_a_price_changed_after_the_preview_is_noticed(hq_admin, store_a, monkeypatch):
    applied(hq_admin, CATALOG)
    job = run(hq_admin, CATALOG)
    assert (job.count_update, job.count_unchanged) == (0, 2)
    variant = Variant.objects.get(sku="B")
    variant_update(actor=hq_admin, variant=variant, sku="B", price="99")
    before = Variant.objects.get(sku="B").change_seq
    calls = validations(monkeypatch)
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert calls == [job.pk]
    assert job.status == "applied"
    assert (job.count_update, job.count_unchanged, job.stock_movements) == (1, 1, 0)
    variant = Variant.objects.get(sku="B")
    assert variant.price == Decimal("11")
    assert variant.change_seq > before


def test_stock_moved_after_the_preview_is_noticed(hq_admin, store_a, monkeypatch):
    applied(hq_admin, CATALOG)
    job = run(hq_admin, CATALOG)
    assert job.count_update == 0
    stock_move("A", store_a, on_hand=3)  # a receipt between preview and apply
    calls = validations(monkeypatch)
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert calls == [job.pk]
    assert (job.status, job.count_update, job.stock_movements) == ("applied", 1, 1)
    level = StockLevel.objects.get(variant__sku="A", location=store_a)
    assert level.on_hand == 5
    movement = Movement.objects.filter(reason="import", reference_id=str(job.pk)).get()
    assert movement.delta_on_hand == -3


def test_stock_moved_at_a_location_the_file_does_not_name_changes_nothing(
    hq_admin, store_a, store_b, monkeypatch
):
    applied(hq_admin, CATALOG)
    job = run(hq_admin, CATALOG)
    stock_move("A", store_b, on_hand=4)
    calls = validations(monkeypatch)
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert calls == []
    assert (job.status, job.count_update, job.stock_movements) == ("applied", 0, 0)


def test_rows_made_invalid_after_the_preview_fail_the_apply(hq_admin, store_a):
    applied(hq_admin, CATALOG)
    job = run(hq_admin, STOCK, filename="stock.csv")
    assert (job.count_update, job.count_unchanged, job.count_invalid) == (0, 2, 0)
    # An order reserves 4 of B: the sheet's count of 2 is now below what is reserved.
    stock_move("B", store_a, on_hand=2, reserved=4)
    movements = Movement.objects.count()
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert job.status == "failed"
    assert job.message == (
        "The data changed since the preview: rows are now invalid; nothing was written."
    )
    assert [(e["row"], e["column"]) for e in job.row_errors] == [(3, "on_hand")]
    assert Movement.objects.count() == movements
    assert StockLevel.objects.get(variant__sku="B").on_hand == 4


def test_a_manager_who_lost_the_location_after_the_preview_is_refused(
    hq_admin, manager_a, store_a, monkeypatch
):
    applied(hq_admin, CATALOG)
    job = run(manager_a, STOCK, filename="stock.csv")
    assert (job.count_unchanged, job.count_invalid) == (2, 0)
    Membership.objects.filter(user=manager_a).delete()
    calls = validations(monkeypatch)
    job = import_job_confirm(actor=manager_a, job_id=job.pk, run_now=True)
    assert calls == [job.pk]
    assert job.status == "failed"
    assert job.stock_movements == 0
