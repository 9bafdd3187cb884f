"""Stock through the ledger, idempotency, crashes, cancel, role scoping, round trips."""

import io
import json

import pytest
from django.core.management import call_command

from apps.catalog.models import Product, Variant
from apps.core.errors import InvalidTransition
from apps.imports import services
from apps.imports.exports import catalog_export, stock_export
from apps.imports.services import (
    import_job_cancel,
    import_job_confirm,
    import_job_retry,
)
from apps.inventory.ledger import Actor, StockChange, stock_apply
from apps.inventory.models import Movement, StockLevel
from tests.factories import VariantFactory

from .helpers import HEADER, csv_bytes, run

STOCK_HEADER = ["sku", "location", "on_hand", "delta"]


def applied(actor, data, filename="file.csv", **kwargs):
    job = run(actor, data, filename=filename, **kwargs)
    assert job.status == "previewed", job.message
    return import_job_confirm(actor=actor, job_id=job.pk, run_now=True)


def test_stock_changes_are_ledger_movements_referencing_the_job(hq_admin, store_a):
    header = [*HEADER, "stock@SA1"]
    job = applied(hq_admin, csv_bytes([["A", "tee", "Tee", "1", "", "", "7"]], header=header))
    movement = Movement.objects.get()
    assert (movement.reason, movement.reference_type, movement.reference_id) == (
        "import",
        "import",
        str(job.pk),
    )
    assert (movement.delta_on_hand, movement.on_hand_after, movement.actor_user_id) == (
        7,
        7,
        hq_admin.pk,
    )
    assert StockLevel.objects.get().on_hand == sum(
        Movement.objects.values_list("delta_on_hand", flat=True)
    )


def test_counted_stock_writes_the_difference(hq_admin, store_a):
    variant = VariantFactory(sku="A")
    with_transaction_stock(variant, store_a, 10)
    job = applied(hq_admin, csv_bytes([["A", "SA1", "4", ""]], header=STOCK_HEADER))
    assert (job.count_update, job.stock_movements) == (1, 1)
    assert StockLevel.objects.get().on_hand == 4
    assert Movement.objects.filter(reason="import").get().delta_on_hand == -6


def with_transaction_stock(variant, location, quantity):
    from django.db import transaction

    with transaction.atomic():
        stock_apply(
            changes=[StockChange(variant.pk, location.pk, "receipt", on_hand=quantity)],
            actor=Actor(),
        )


def test_delta_rows_add_to_stock(hq_admin, store_a):
    variant = VariantFactory(sku="A")
    with_transaction_stock(variant, store_a, 10)
    applied(hq_admin, csv_bytes([["A", "SA1", "", "5"]], header=STOCK_HEADER))
    assert StockLevel.objects.get().on_hand == 15


def test_reimporting_the_same_file_changes_nothing_and_writes_no_ledger_rows(hq_admin, store_a):
    header = [*HEADER, "price@SA1", "stock@SA1"]
    data = csv_bytes(
        [
            ["A", "tee", "Tee", "10", "111|222", "Women > Tops", "9", "5"],
            ["B", "tee", "", "11", "", "", "", "2"],
        ],
        header=header,
    )
    applied(hq_admin, data)
    seqs = dict(Variant.objects.values_list("sku", "change_seq"))
    movements = Movement.objects.count()
    job = applied(hq_admin, data)
    assert (job.count_create, job.count_update, job.count_unchanged) == (0, 0, 2)
    assert job.stock_movements == 0
    assert Movement.objects.count() == movements == 2
    assert dict(Variant.objects.values_list("sku", "change_seq")) == seqs


def test_changed_rows_move_only_their_change_seq(hq_admin):
    applied(
        hq_admin, csv_bytes([["A", "tee", "Tee", "10", "", ""], ["B", "tee", "", "11", "", ""]])
    )
    before = dict(Variant.objects.values_list("sku", "change_seq"))
    job = applied(
        hq_admin, csv_bytes([["A", "tee", "", "10", "", ""], ["B", "tee", "", "12", "", ""]])
    )
    after = dict(Variant.objects.values_list("sku", "change_seq"))
    assert (job.count_update, job.count_unchanged) == (1, 1)
    assert after["A"] == before["A"] and after["B"] > before["B"]


def test_manager_rows_for_other_locations_are_row_errors(manager_a, store_a, store_b):
    VariantFactory(sku="A")
    data = csv_bytes([["A", "SA1", "3", ""], ["A", "SB1", "3", ""]], header=STOCK_HEADER)
    job = run(manager_a, data)
    assert [(e["row"], e["column"], e["message"]) for e in job.row_errors] == [
        (3, "location", "you may not change stock at location SB1")
    ]
    import_job_confirm(actor=manager_a, job_id=job.pk, mode="skip_invalid", run_now=True)
    assert list(StockLevel.objects.values_list("location__code", "on_hand")) == [("SA1", 3)]


def test_manager_all_or_nothing_with_foreign_rows_writes_nothing(manager_a, store_a, store_b):
    VariantFactory(sku="A")
    job = run(
        manager_a, csv_bytes([["A", "SA1", "3", ""], ["A", "SB1", "3", ""]], header=STOCK_HEADER)
    )
    with pytest.raises(Exception, match="all-or-nothing"):
        import_job_confirm(actor=manager_a, job_id=job.pk, run_now=True)
    assert not Movement.objects.exists()


def test_stock_sheet_row_errors(hq_admin, store_a):
    VariantFactory(sku="A")
    VariantFactory(sku="B")
    VariantFactory(sku="C")
    VariantFactory(sku="LOT", tracking="lot")
    # One sku per row at SA1: the same sku and location twice is a duplicate error.
    rows = [
        ["NOPE", "SA1", "1", ""],
        ["A", "ZZ9", "1", ""],
        ["A", "SA1", "1", "2"],
        ["B", "SA1", "-1", ""],
        ["LOT", "SA1", "1", ""],
        ["C", "SA1", "", "-1"],
    ]
    job = run(hq_admin, csv_bytes(rows, header=STOCK_HEADER))
    messages = [(e["row"], e["message"]) for e in job.row_errors]
    assert messages == [
        (2, "sku `NOPE` is not in the catalog"),
        (3, "location `ZZ9` does not exist"),
        (4, "give exactly one of on_hand (the count) or delta (a change)"),
        (5, "on_hand `-1` is negative: count what is on the shelf"),
        (
            6,
            "sku `LOT` is lot-tracked: lots and serials cannot be imported yet; "
            "receive them on the Stock screens",
        ),
        (7, "delta `-1` would leave -1 on hand, below the 0 reserved (or below zero)"),
    ]


def test_duplicate_sku_and_location_in_a_stock_sheet(hq_admin, store_a):
    VariantFactory(sku="A")
    job = run(
        hq_admin, csv_bytes([["A", "SA1", "1", ""], ["A", "sa1", "2", ""]], header=STOCK_HEADER)
    )
    assert [e["row"] for e in job.row_errors] == [2, 3]


def test_worker_killed_mid_apply_leaves_nothing_and_the_job_can_be_retried(
    hq_admin, store_a, store_b, monkeypatch
):
    header = [*HEADER, "stock@SA1", "stock@SB1"]
    data = csv_bytes([["A", "tee", "Tee", "1", "", "", "3", "4"]], header=header)
    job = run(hq_admin, data)
    calls = []
    real_apply_batches = services.stock_apply_batches

    def dying_stock_apply(*, after_batch, **kwargs):
        def dying_after(applied):
            after_batch(applied)
            calls.append(1)
            if len(calls) == 1:  # after the first location's batch: half-way through
                raise SystemExit("worker killed")

        return real_apply_batches(after_batch=dying_after, **kwargs)

    monkeypatch.setattr(services, "stock_apply_batches", dying_stock_apply)
    with pytest.raises(SystemExit):
        import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    job.refresh_from_db()
    assert job.status == "applying"
    assert not Variant.objects.exists() and not Product.objects.exists()
    assert not Movement.objects.exists() and not StockLevel.objects.exists()

    monkeypatch.setattr(services, "stock_apply_batches", real_apply_batches)
    job = import_job_retry(actor=hq_admin, job_id=job.pk, run_now=True)
    assert job.status == "applied"
    assert sorted(StockLevel.objects.values_list("location__code", "on_hand")) == [
        ("SA1", 3),
        ("SB1", 4),
    ]
    # Retrying a finished job is refused; running the apply task again writes nothing.
    with pytest.raises(InvalidTransition):
        import_job_retry(actor=hq_admin, job_id=job.pk, run_now=True)
    services.import_job_apply(job_id=job.pk)
    assert Movement.objects.count() == 2


def test_cancel_a_running_apply_rolls_back(hq_admin, store_a, monkeypatch):
    data = csv_bytes([["A", "tee", "Tee", "1", "", "", "3"]], header=[*HEADER, "stock@SA1"])
    job = run(hq_admin, data)
    real_write = services._progress_write

    def cancel_then_progress(job_, done, total):
        if done:  # after the catalog was written, the user presses Cancel
            import_job_cancel(actor=hq_admin, job_id=job_.pk)
        real_write(job_, done, total)

    monkeypatch.setattr(services, "_progress_write", cancel_then_progress)
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert job.status == "cancelled"
    assert not Variant.objects.exists() and not Movement.objects.exists()


def test_cancel_before_confirm(hq_admin):
    job = run(hq_admin, csv_bytes([["A", "tee", "Tee", "1", "", ""]]))
    job = import_job_cancel(actor=hq_admin, job_id=job.pk)
    assert job.status == "cancelled"
    with pytest.raises(InvalidTransition):
        import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)


@pytest.mark.parametrize("file_type", ["csv", "xlsx"])
def test_catalog_export_then_import_reports_everything_unchanged(hq_admin, store_a, file_type):
    header = [*HEADER, "brand", "option1_name", "option1_value", "price@SA1", "stock@SA1"]
    applied(
        hq_admin,
        csv_bytes(
            [
                [
                    "007",
                    "tee",
                    "=Tee",
                    "10",
                    "0123|456",
                    "Women > Tops",
                    "-Brand",
                    "Size",
                    "M",
                    "8",
                    "3",
                ],
                ["B", "tee", "", "11.50", "", "", "", "Size", "L", "", "0"],
            ],
            header=header,
        ),
    )
    exported = catalog_export(actor=hq_admin, file_type=file_type)
    job = applied(hq_admin, exported, filename=f"export.{file_type}")
    assert (job.count_create, job.count_update, job.count_unchanged, job.count_invalid) == (
        0,
        0,
        2,
        0,
    )
    assert job.warnings == []
    assert Product.objects.get().name == "=Tee"


@pytest.mark.parametrize("file_type", ["csv", "xlsx"])
def test_stock_export_then_import_reports_everything_unchanged(hq_admin, store_a, file_type):
    applied(
        hq_admin, csv_bytes([["A", "tee", "Tee", "1", "", "", "3"]], header=[*HEADER, "stock@SA1"])
    )
    exported = stock_export(actor=hq_admin, file_type=file_type)
    job = applied(hq_admin, exported, filename=f"stock.{file_type}")
    assert (job.count_update, job.count_unchanged, job.stock_movements) == (0, 1, 0)


def test_exports_escape_formulas(hq_admin):
    applied(
        hq_admin,
        csv_bytes(
            [["A", "tee", '=HYPERLINK("x")', "1", "", ""]], header=[*HEADER[:4], "barcode", "brand"]
        ),
    )
    Product.objects.update(brand="@SUM(1)", description="+1")
    text = catalog_export(actor=hq_admin, file_type="csv").decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'@SUM(1)" in text and "'+1" in text
    assert ",=" not in text


def test_shopify_legacy_sample(hq_admin, store_a):
    from pathlib import Path

    data = (Path(__file__).parent / "fixtures" / "shopify_product_template.csv").read_bytes()
    job = run(hq_admin, data, filename="shopify.csv", location=store_a)
    assert job.kind == "shopify"
    # Every barcode in Shopify's own sample was rounded by Excel: 16 variant rows, one
    # image-only row skipped.
    assert job.rows_total == 16
    assert job.count_invalid == 16
    assert "scientific notation" in job.row_errors[0]["message"]
    assert job.row_errors[0]["column"] == "Variant Barcode"


def test_shopify_current_sample(hq_admin, store_a):
    from pathlib import Path

    data = (
        Path(__file__).parent / "fixtures" / "shopify_product_template_current.csv"
    ).read_bytes()
    job = run(hq_admin, data, filename="shopify.csv", location=store_a)
    assert job.kind == "shopify"
    # The three e-book formats share one ISBN barcode: row errors, never last-wins.
    assert [e["row"] for e in job.row_errors if e["column"] == "Barcode"] == [14, 15, 16]
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, mode="skip_invalid", run_now=True)
    assert job.status == "applied"
    variant = Variant.objects.get(sku="TheBandTShirt-SG")
    assert (variant.option1_value, variant.option2_value) == ("Small", "green")
    assert (str(variant.price), variant.active) == ("19.99", True)
    assert variant.product.name.startswith("Physical Product")
    assert variant.product.brand == "Harmony Threads"
    assert StockLevel.objects.get(variant=variant).on_hand == 47
    assert Variant.objects.count() == 12


def test_shopify_default_title_and_draft_status(hq_admin):
    header = [
        "Handle",
        "Title",
        "Option1 Name",
        "Option1 Value",
        "Variant SKU",
        "Variant Price",
        "Status",
        "Image Src",
    ]
    rows = [
        ["hat", "Hat", "Title", "Default Title", "HAT-1", "17.99", "archived", "a.jpg"],
        ["hat", "", "", "", "", "", "", "b.jpg"],
    ]
    applied(hq_admin, csv_bytes(rows, header=header))
    variant = Variant.objects.get()
    assert (variant.option1_name, variant.option1_value, variant.active) == ("", "", False)


def test_command_line_json_summary_and_exit_status(hq_admin, tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes([["A", "tee", "Tee", "1", "", ""]]))
    out = io.StringIO()
    call_command("import_catalog", str(good), "--json", "--dry-run", stdout=out)
    summary = json.loads(out.getvalue())
    assert (summary["status"], summary["counts"]["create"], summary["dry_run"]) == (
        "previewed",
        1,
        True,
    )
    assert not Variant.objects.exists()
    call_command("import_catalog", str(good), stdout=io.StringIO())
    assert Variant.objects.filter(sku="A").exists()

    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([["B", "tee", "", "x", "", ""]]))
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_catalog", str(bad), "--json", stdout=out)
    assert exit_info.value.code == 1
    assert json.loads(out.getvalue())["errors"][0]["message"] == "price `x` is not a number"

    stock = tmp_path / "stock.csv"
    stock.write_bytes(csv_bytes([["A", "SA1", "2", ""]], header=STOCK_HEADER))
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_catalog", str(stock), "--json", stdout=io.StringIO())
    assert exit_info.value.code == 2


def test_import_stock_command(hq_admin, store_a, tmp_path):
    VariantFactory(sku="A")
    stock = tmp_path / "stock.csv"
    stock.write_bytes(csv_bytes([["A", "SA1", "2", ""]], header=STOCK_HEADER))
    out = io.StringIO()
    call_command("import_stock", str(stock), stdout=out)
    assert "stock movements 1" in out.getvalue()
    assert StockLevel.objects.get().on_hand == 2


def test_validation_queries_do_not_grow_with_rows(hq_admin, store_a, django_assert_num_queries):
    from apps.imports.formats import header_map, rows_map
    from apps.imports.parsers import table_read
    from apps.imports.validation import catalog_preview

    def rows_of(count):
        header = [*HEADER, "price@SA1", "stock@SA1"]
        data = csv_bytes(
            [
                [f"S{i}", f"p{i % 7}", f"P{i}", "1", f"9{i:05d}", "A > B", "2", "3"]
                for i in range(count)
            ],
            header=header,
        )
        table = table_read(data, "x.csv")
        return rows_map(table, header_map(table, "catalog")[0])

    small, large = rows_of(10), rows_of(300)
    with django_assert_num_queries(6) as small_queries:
        catalog_preview(small, actor=hq_admin)
    with django_assert_num_queries(len(small_queries.captured_queries)):
        catalog_preview(large, actor=hq_admin)


def test_validating_an_imported_file_again_reads_each_table_once(
    hq_admin, store_a, django_assert_num_queries
):
    from apps.imports.formats import header_map, rows_map
    from apps.imports.parsers import table_read
    from apps.imports.validation import catalog_preview

    data = csv_bytes(
        [[f"S{i}", f"p{i % 7}", f"P{i}", "1", f"9{i:05d}", "A > B", "2", "3"] for i in range(30)],
        header=[*HEADER, "price@SA1", "stock@SA1"],
    )
    applied(hq_admin, data)
    table = table_read(data, "x.csv")
    rows = rows_map(table, header_map(table, "catalog")[0])
    # Locations, the ones the actor manages, variants, their barcodes (every code is
    # theirs: none is looked up by code), products, stock levels, location prices,
    # categories.
    with django_assert_num_queries(8) as queries:
        preview = catalog_preview(rows, actor=hq_admin)
    assert preview.counts() == {"create": 0, "update": 0, "unchanged": 30, "invalid": 0}
    tables = [query["sql"].split(" FROM ", 1)[1].split()[0] for query in queries.captured_queries]
    assert tables == [
        '"stores_location"',
        '"stores_location"',
        '"catalog_variant"',
        '"catalog_barcode"',
        '"catalog_product"',
        '"inventory_stocklevel"',
        '"catalog_locationprice"',
        '"catalog_category"',
    ]


def test_shopify_inventory_when_the_first_row_has_none(hq_admin, store_a):
    header = ["Handle", "Title", "Variant SKU", "Variant Price", "Variant Inventory Qty"]
    rows = [["ebook", "E-book", "EB-1", "9.99", ""], ["mug", "Mug", "MUG-1", "12", "5"]]
    job = applied(hq_admin, csv_bytes(rows, header=header), location=store_a)
    assert job.stock_movements == 1
    assert list(StockLevel.objects.values_list("variant__sku", "on_hand")) == [("MUG-1", 5)]
