"""An apply trusts its preview, and writes the plan the preview stored, only while
nothing the preview read has changed since; any change in between (a price, a stock
count, a reservation, a permission, a catalog edit) makes it validate the file again
against the database as it is."""

import marshal
import sys
import zlib
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from apps.accounts.models import Membership
from apps.catalog.models import Barcode, LocationPrice, Product, Variant
from apps.catalog.services import variant_create, variant_update
from apps.imports import plans, services
from apps.imports.models import ImportJob
from apps.imports.plans import plan_path
from apps.imports.services import import_job_apply, import_job_confirm
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
# Against CATALOG applied: A's count, B's price and SA1 price change, C is new, D is
# new and not stocked; A's barcode 111 goes and 112 comes.
CHANGES = csv_bytes(
    [
        ["A", "tee", "Tee", "10", "112", "Women > Tops", "9", "6"],
        ["B", "tee", "", "12", "", "", "", "2"],
        ["C", "tee", "", "13", "333", "", "8.5", "1"],
        ["D", "cap", "Cap", "4", "", "Men > Hats", "", ""],
    ],
    header=[*HEADER, "price@SA1", "stock@SA1"],
)


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
    assert "plan" not in job.preview_state  # nothing to write, nothing stored
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


def catalog_and_stock(job_id: int) -> dict:
    """What an apply wrote, by natural keys (ids differ between two runs)."""
    return {
        "products": sorted(Product.objects.values_list("handle", "name", "category__path")),
        "variants": sorted(
            Variant.objects.values_list("sku", "product__handle", "price", "active")
        ),
        "moved": sorted(Variant.objects.filter(change_seq__gt=0).values_list("sku", flat=True)),
        "barcodes": sorted(Barcode.objects.values_list("variant__sku", "code")),
        "prices": sorted(
            LocationPrice.objects.values_list("variant__sku", "location__code", "price")
        ),
        "levels": sorted(
            StockLevel.objects.values_list("variant__sku", "location__code", "on_hand")
        ),
        "movements": sorted(
            Movement.objects.values_list(
                "variant__sku", "location__code", "reason", "delta_on_hand", "reference_id"
            )
        ),
        "job": ImportJob.objects.values_list(
            "status", "count_create", "count_update", "count_unchanged", "stock_movements"
        ).get(pk=job_id),
    }


def applied_then_rolled_back(job_id: int) -> dict:
    with transaction.atomic():
        import_job_apply(job_id=job_id)
        written = catalog_and_stock(job_id)
        transaction.set_rollback(True)
    return written


def test_the_stored_plan_writes_what_a_validation_writes(hq_admin, store_a, monkeypatch):
    applied(hq_admin, CATALOG)
    Variant.objects.update(change_seq=0)
    job = run(hq_admin, CHANGES)
    assert (job.count_create, job.count_update, job.count_unchanged) == (2, 2, 0)
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=False)
    assert job.status == "applying"
    before = catalog_and_stock(job.pk)
    calls = validations(monkeypatch)

    from_plan = applied_then_rolled_back(job.pk)
    assert calls == []
    assert catalog_and_stock(job.pk) == before
    default_storage.delete(plan_path(job))  # without its plan the apply validates again
    validated = applied_then_rolled_back(job.pk)
    assert calls == [job.pk]

    assert from_plan == validated
    assert from_plan["variants"] == [
        ("A", "tee", Decimal("10.00"), True),
        ("B", "tee", Decimal("12.00"), True),
        ("C", "tee", Decimal("13.00"), True),
        ("D", "cap", Decimal("4.00"), True),
    ]
    assert from_plan["moved"] == ["A", "B", "C", "D"]
    assert from_plan["barcodes"] == [("A", "112"), ("C", "333")]
    assert from_plan["prices"] == [("A", "SA1", Decimal("9.00")), ("C", "SA1", Decimal("8.50"))]
    assert from_plan["levels"] == [("A", "SA1", 6), ("B", "SA1", 2), ("C", "SA1", 1)]
    reference = str(job.pk)
    assert [m for m in from_plan["movements"] if m[4] == reference] == [
        ("A", "SA1", "import", 1, reference),
        ("C", "SA1", "import", 1, reference),
    ]
    assert from_plan["job"] == ("applied", 2, 2, 0, 2)


def test_a_preview_with_changes_is_applied_from_its_plan(
    hq_admin, store_a, monkeypatch, django_capture_on_commit_callbacks
):
    job = run(hq_admin, CATALOG)
    assert job.preview_state["plan"] == plan_path(job)
    calls = validations(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert calls == []
    assert (job.status, job.count_create, job.stock_movements, job.rows_done) == (
        "applied",
        2,
        2,
        2,
    )
    assert sorted(StockLevel.objects.values_list("variant__sku", "on_hand")) == [
        ("A", 5),
        ("B", 2),
    ]
    # Once committed the plan is no longer needed.
    assert not default_storage.exists(plan_path(job))


def test_an_unreadable_plan_is_validated_again(hq_admin, store_a, monkeypatch):
    job = run(hq_admin, CATALOG)
    with default_storage.open(plan_path(job), "wb") as handle:
        handle.write(b"not a plan")
    calls = validations(monkeypatch)
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert calls == [job.pk]
    assert (job.status, job.count_create, job.stock_movements) == ("applied", 2, 2)


def plan_rewritten(path: str, *, python: tuple[int, int]) -> None:
    """The stored plan as the same PLAN_VERSION under another Python would have written it."""
    with default_storage.open(path, "rb") as handle:
        kept = marshal.loads(zlib.decompress(handle.read()))  # noqa: S302 (our own file)
    default_storage.delete(path)
    default_storage.save(
        path, ContentFile(zlib.compress(marshal.dumps(((kept[0][0], python), *kept[1:]))))
    )


@pytest.mark.parametrize("written_by", ["an older plan version", "another python"])
def test_a_plan_from_another_version_is_validated_again_with_the_same_writes(
    hq_admin, store_a, monkeypatch, written_by
):
    applied(hq_admin, CATALOG)
    Variant.objects.update(change_seq=0)
    job = run(hq_admin, CHANGES)
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=False)
    calls = validations(monkeypatch)
    from_plan = applied_then_rolled_back(job.pk)
    assert calls == []

    # A deploy between the preview and its confirm.
    if written_by == "an older plan version":
        monkeypatch.setattr(plans, "PLAN_VERSION", plans.PLAN_VERSION + 1)
    else:
        plan_rewritten(plan_path(job), python=(sys.version_info[0], sys.version_info[1] - 1))
    assert plans.plan_load(job.preview_state["plan"]) is None
    validated = applied_then_rolled_back(job.pk)

    assert calls == [job.pk]
    assert validated == from_plan
    assert validated["job"] == ("applied", 2, 2, 0, 2)


def test_a_plan_that_could_not_be_stored_is_validated_again(hq_admin, store_a, monkeypatch):
    class FullStorage:
        def exists(self, name):
            return False

        def save(self, name, content):
            raise OSError("No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(plans, "default_storage", FullStorage())
        job = run(hq_admin, CATALOG)
    assert (job.status, job.count_create, job.preview_state["plan"]) == ("previewed", 2, "")
    calls = validations(monkeypatch)
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert calls == [job.pk]
    assert (job.status, job.count_create, job.stock_movements) == ("applied", 2, 2)


def price_changed(hq_admin, store_a):
    variant_update(actor=hq_admin, variant=Variant.objects.get(sku="B"), sku="B", price="99")


def stock_received(hq_admin, store_a):
    stock_move("A", store_a, on_hand=3)


def stock_reserved(hq_admin, store_a):
    stock_move("B", store_a, on_hand=2, reserved=4)


def barcode_taken(hq_admin, store_a):
    product = Product.objects.get(handle="tee")
    variant_create(actor=hq_admin, product=product, sku="E", price="1", barcode="333")


@pytest.mark.parametrize(
    ("change", "status", "levels"),
    [
        # B's price is set from the file again, as validated now.
        (price_changed, "applied", [("A", 6), ("B", 2), ("C", 1)]),
        # A's count of 6 is now 2 less than the 8 on hand, not 1 more than 5.
        (stock_received, "applied", [("A", 6), ("B", 2), ("C", 1)]),
        # B's count of 2 is now below the 4 reserved: all or nothing, nothing written.
        (stock_reserved, "failed", [("A", 5), ("B", 4)]),
        # C's barcode now belongs to E: all or nothing, nothing written.
        (barcode_taken, "failed", [("A", 5), ("B", 2)]),
    ],
    ids=["price", "stock", "reservation", "catalog"],
)
def test_a_change_after_a_preview_with_changes_is_noticed(
    hq_admin, store_a, monkeypatch, change, status, levels
):
    applied(hq_admin, CATALOG)
    job = run(hq_admin, CHANGES)
    assert (job.count_create, job.count_update, job.count_invalid) == (2, 2, 0)
    change(hq_admin, store_a)
    movements = Movement.objects.exclude(reference_id=str(job.pk)).count()
    calls = validations(monkeypatch)
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert calls == [job.pk]
    assert job.status == status
    assert sorted(StockLevel.objects.values_list("variant__sku", "on_hand")) == levels
    assert Movement.objects.exclude(reference_id=str(job.pk)).count() == movements
    if status == "applied":
        assert Variant.objects.get(sku="B").price == Decimal("12")
    else:
        assert not Variant.objects.filter(sku__in=["C", "D"]).exists()
        assert not Movement.objects.filter(reference_id=str(job.pk)).exists()


def test_a_manager_who_lost_the_location_after_a_preview_with_changes_is_refused(
    hq_admin, manager_a, store_a, monkeypatch
):
    applied(hq_admin, CATALOG)
    job = run(manager_a, STOCK.replace(b"A,SA1,5", b"A,SA1,7"), filename="stock.csv")
    assert (job.count_update, job.count_unchanged, job.count_invalid) == (1, 1, 0)
    Membership.objects.filter(user=manager_a).delete()
    calls = validations(monkeypatch)
    job = import_job_confirm(actor=manager_a, job_id=job.pk, run_now=True)
    assert calls == [job.pk]
    assert (job.status, job.stock_movements) == ("failed", 0)
    assert StockLevel.objects.get(variant__sku="A").on_hand == 5
    assert not Movement.objects.filter(reference_id=str(job.pk)).exists()
