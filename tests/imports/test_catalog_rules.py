"""Behaviour the user relies on (shared/import-format.md), one test each."""

import io
import zipfile
from random import Random

import openpyxl
import pytest

from apps.catalog.models import Barcode, LocationPrice, Product, Variant
from apps.core.errors import InvalidTransition
from apps.imports.errors import FileRefused
from apps.imports.models import ImportJob
from apps.imports.parsers import _sheet_extent_check
from apps.imports.services import import_job_confirm
from apps.inventory.models import Movement, StockLevel
from tests.factories import BarcodeFactory, VariantFactory

from .helpers import HEADER, csv_bytes, run


def errors_of(job):
    return [(e["row"], e["column"], e["message"]) for e in job.row_errors]


def xlsx_bytes(rows) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_missing_required_column_refuses_the_whole_file(hq_admin):
    job = run(hq_admin, csv_bytes([["A", "12"]], header=["sku", "price"]))
    assert job.status == "refused"
    assert job.message.startswith("Unknown format")
    job = run(hq_admin, csv_bytes([["A", "12"]], header=["product_handle", "price"]))
    assert job.status == "refused"
    assert job.message == "Missing required column(s): `sku`."
    assert not Variant.objects.exists()


def test_empty_file_and_header_only_are_refused(hq_admin):
    with pytest.raises(FileRefused, match="empty"):
        run(hq_admin, b"")
    job = run(hq_admin, b"\n\n  \n", filename="blank.csv")
    assert (job.status, job.message) == ("refused", "The file is empty.")
    job = run(hq_admin, csv_bytes([]))
    assert (job.status, job.message) == ("refused", "The file has a header but no rows.")


def test_unknown_columns_are_warnings(hq_admin):
    job = run(hq_admin, csv_bytes([["A", "tee", "Tee", "1", "x"]], header=[*HEADER[:4], "colour"]))
    assert job.status == "previewed"
    assert job.warnings == ["Unknown column `colour` is ignored."]


def test_wrong_types_are_specific_row_errors(hq_admin):
    rows = [
        ["A", "tee", "Tee", "12,5O", "", ""],
        ["B", "tee", "", "1.999", "", ""],
        ["C", "bad handle!", "X", "1", "", ""],
        ["D", "tee", "", "-1", "", ""],
    ]
    job = run(hq_admin, csv_bytes(rows))
    assert errors_of(job) == [
        (2, "price", "price `12,5O` is not a number"),
        (3, "price", "price `1.999` has more than two decimal places"),
        (
            4,
            "product_handle",
            "product_handle `bad handle!` may only contain letters, digits, - and _",
        ),
        (5, "price", "price `-1` is negative"),
    ]
    assert job.row_errors[0]["value"] == "12,5O"
    assert job.count_invalid == 4


def test_duplicate_skus_are_errors_on_every_occurrence(hq_admin):
    rows = [
        ["A", "tee", "Tee", "1", "", ""],
        ["B", "tee", "", "2", "", ""],
        ["A", "tee", "", "3", "", ""],
    ]
    job = run(hq_admin, csv_bytes(rows))
    assert errors_of(job) == [
        (2, "sku", "sku `A` appears on rows 2, 4: each may appear once"),
        (4, "sku", "sku `A` appears on rows 2, 4: each may appear once"),
    ]
    assert (job.count_create, job.count_invalid) == (1, 2)


def test_one_barcode_on_two_skus_is_an_error(hq_admin):
    rows = [["A", "tee", "Tee", "1", "111", ""], ["B", "tee", "", "2", "222|111", ""]]
    job = run(hq_admin, csv_bytes(rows))
    assert errors_of(job) == [
        (2, "barcode", "barcode `111` is also given to sku B in this file"),
        (3, "barcode", "barcode `111` is also given to sku A in this file"),
    ]


def test_barcode_of_another_existing_sku_is_an_error(hq_admin):
    BarcodeFactory(code="999", variant=VariantFactory(sku="OLD"))
    job = run(hq_admin, csv_bytes([["A", "tee", "Tee", "1", "999", ""]]))
    assert errors_of(job) == [(2, "barcode", "barcode `999` already belongs to sku OLD")]


def test_numbers_excel_destroyed_are_errors(hq_admin):
    rows = [["A", "tee", "Tee", "1", "3.65275E+11", ""], ["4.6347E+11", "tee", "", "1", "", ""]]
    job = run(hq_admin, csv_bytes(rows))
    assert [(r, c) for r, c, _ in errors_of(job)] == [(2, "barcode"), (3, "sku")]
    assert "scientific notation: Excel destroyed the number" in job.row_errors[0]["message"]


def test_xlsx_numbers_as_text_and_floats_read_correctly(hq_admin):
    data = xlsx_bytes(
        [
            [*HEADER, "active"],
            ["007", "tee", "Tee", 12.0, "0012345", None, "yes"],
            [8, "tee", None, "12.50", 3000000000017, "", 0],
        ]
    )
    job = run(hq_admin, data, filename="catalog.xlsx")
    assert job.row_errors == []
    import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    first, second = Variant.objects.order_by("sku")
    assert (first.sku, first.price, first.active) == ("007", 12, True)
    assert (second.sku, str(second.price), second.active) == ("8", "12.50", False)
    assert set(Barcode.objects.values_list("code", flat=True)) == {"0012345", "3000000000017"}


def test_blank_rows_are_skipped_and_row_numbers_kept(hq_admin):
    data = b"sku,product_handle,product_name,price\nA,tee,Tee,1\n,,,\n\nB,tee,,x\n"
    job = run(hq_admin, data)
    assert errors_of(job) == [(5, "price", "price `x` is not a number")]
    assert job.rows_total == 2


def test_a_sheet_claiming_a_million_empty_rows_does_not_hang(hq_admin):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    sheet.append(["A", "tee", "Tee", "1", "", ""])
    for row in range(3, 5003):  # formatted but empty cells, as Excel leaves them
        sheet.cell(row=row, column=1).value = ""
        sheet.cell(row=row, column=26).value = ""
    buffer = io.BytesIO()
    workbook.save(buffer)
    # Claim the whole sheet in the dimension, as some exports do.
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = content.replace(
                    b'<dimension ref="A1:Z5002"/>', b'<dimension ref="A1:Z1048576"/>'
                )
            target.writestr(item, content)
    job = run(hq_admin, out.getvalue(), filename="padded.xlsx")
    assert job.status == "previewed"
    assert (job.rows_total, job.count_create) == (1, 1)


def test_rows_over_the_limit_are_refused_up_front(hq_admin, settings):
    settings.OMO_IMPORT_MAX_ROWS = 3
    job = run(hq_admin, csv_bytes([[f"S{i}", "tee", "Tee", "1", "", ""] for i in range(4)]))
    assert job.status == "refused"
    assert job.message == "The file has more than 3 rows, the limit. Split it into smaller files."


def test_oversized_file_is_refused_before_it_is_stored(hq_admin, settings):
    settings.OMO_IMPORT_MAX_BYTES = 100
    with pytest.raises(FileRefused, match=r"the limit is 0\.0 MB"):
        run(hq_admin, csv_bytes([["A" * 200, "tee", "Tee", "1", "", ""]]))
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("photo.xlsx", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "is not an Excel workbook"),
        ("noise.csv", bytes(range(256)) * 8, "not a spreadsheet"),
        ("broken.xlsx", b"PK\x03\x04" + b"\x00" * 300, "is not a readable .xlsx file"),
    ],
)
def test_not_a_spreadsheet_is_refused_with_a_clear_message(hq_admin, name, data, message):
    job = run(hq_admin, data, filename=name)
    assert job.status == "refused"
    assert message in job.message


def test_zip_bomb_is_refused(hq_admin):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\x00" * (120 * 1024 * 1024))
    job = run(hq_admin, out.getvalue(), filename="bomb.xlsx")
    assert job.status == "refused"
    assert "refused as unsafe" in job.message


def test_utf8_bom_cp1252_and_gbk_csvs_import_text_correctly(hq_admin):
    for encoding, name, handle in [
        ("utf-8-sig", "Crème brûlée ☕", "creme"),
        ("cp1252", "Crème brûlée \u2013 Café", "cafe"),
        ("gbk", "纯棉T恤 白色", "tshirt-cn"),
    ]:
        data = csv_bytes([[f"SKU-{handle}", handle, name, "9.90", "", ""]], encoding=encoding)
        job = run(hq_admin, data, filename=f"{handle}.csv")
        assert job.status == "previewed", job.message
        import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
        assert Product.objects.get(handle=handle).name == name


def test_semicolon_and_tab_delimited_csvs(hq_admin):
    for delimiter in ";\t":
        data = csv_bytes([["A", "tee", "Tee", "1,5", "", ""]], delimiter=delimiter)
        job = run(hq_admin, data)
        assert errors_of(job) == [(2, "price", "price `1,5` is not a number")]


def test_undecodable_text_is_refused_not_garbled(hq_admin):
    job = run(hq_admin, b"sku,product_handle,product_name,price\nA,tee,\x81,\x8d1\n")
    assert job.status == "refused"
    assert "encoding could not be recognised" in job.message


def test_new_product_needs_a_name_and_new_sku_a_price(hq_admin):
    rows = [["A", "tee", "", "1", "", ""], ["B", "hat", "Hat", "", "", ""]]
    job = run(hq_admin, csv_bytes(rows))
    assert errors_of(job) == [
        (2, "product_name", "product_name is required for the new product `tee`"),
        (3, "price", "price is required for a new sku"),
    ]


def test_all_or_nothing_confirm_with_errors_writes_nothing(hq_admin):
    job = run(
        hq_admin, csv_bytes([["A", "tee", "Tee", "1", "", ""], ["B", "tee", "", "x", "", ""]])
    )
    with pytest.raises(Exception, match="all-or-nothing"):
        import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert not Variant.objects.exists()


def test_skip_invalid_writes_good_rows_only(hq_admin):
    job = run(
        hq_admin, csv_bytes([["A", "tee", "Tee", "1", "", ""], ["B", "tee", "", "x", "", ""]])
    )
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, mode="skip_invalid", run_now=True)
    assert job.status == "applied"
    assert list(Variant.objects.values_list("sku", flat=True)) == ["A"]


def test_confirming_twice_is_refused_and_applies_once(hq_admin, store_a):
    header = [*HEADER, f"stock@{store_a.code}"]
    job = run(hq_admin, csv_bytes([["A", "tee", "Tee", "1", "", "", "5"]], header=header))
    import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    with pytest.raises(InvalidTransition) as raised:
        import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    assert raised.value.status_code == 409
    assert Movement.objects.count() == 1
    assert StockLevel.objects.get().on_hand == 5


def test_location_prices_and_stock_columns(hq_admin, store_a, store_b):
    header = [*HEADER, "price@SA1", "stock@SA1", "stock@SB1"]
    job = run(
        hq_admin, csv_bytes([["A", "tee", "Tee", "10", "", "", "8.50", "4", ""]], header=header)
    )
    job = import_job_confirm(actor=hq_admin, job_id=job.pk, run_now=True)
    variant = Variant.objects.get()
    assert LocationPrice.objects.get(variant=variant, location=store_a).price == 8.5
    assert list(StockLevel.objects.values_list("location__code", "on_hand")) == [("SA1", 4)]
    assert job.stock_movements == 1


def test_unknown_location_column_refuses_the_file(hq_admin):
    job = run(
        hq_admin, csv_bytes([["A", "tee", "Tee", "1", "", "", "3"]], header=[*HEADER, "stock@NOPE"])
    )
    assert job.status == "refused"
    assert "Unknown location code(s) in the header: `NOPE`" in job.message


def test_a_stray_value_in_the_last_row_is_refused_without_loading_the_grid(hq_admin):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    sheet.append(["A", "tee", "Tee", "1", "", ""])
    sheet.cell(row=1_048_576, column=26).value = " "
    buffer = io.BytesIO()
    workbook.save(buffer)
    job = run(hq_admin, buffer.getvalue(), filename="stray.xlsx")
    assert job.status == "refused"
    assert job.message.startswith("stray.xlsx has something in row 1,048,576, far below the data")


def test_error_file_of_an_xlsx_is_an_xlsx_with_an_errors_column(hq_admin):
    from django.core.files.storage import default_storage

    from apps.imports.parsers import table_read

    data = xlsx_bytes(
        [HEADER, ["A", "tee", "Tee", 1, None, None], ["B", "tee", None, "abc", None, None]]
    )
    job = run(hq_admin, data, filename="mine.xlsx")
    assert job.error_file.endswith("mine-errors.xlsx")
    with default_storage.open(job.error_file, "rb") as handle:
        table = table_read(handle.read(), "mine-errors.xlsx")
    assert table.header == [*HEADER, "errors"]
    assert table.rows == [
        (2, ["B", "tee", "", "abc", "", "", "price: price `abc` is not a number"])
    ]


def test_a_value_beyond_column_zz_is_refused_and_zz_is_read(hq_admin):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    sheet.append(["A", "tee", "Tee", "1", "", ""])
    sheet.cell(row=2, column=702).value = "in ZZ"  # an unknown, empty-headed column
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert run(hq_admin, buffer.getvalue(), filename="zz.xlsx").status == "previewed"
    sheet.cell(row=3, column=703).value = "in AAA"
    buffer = io.BytesIO()
    workbook.save(buffer)
    job = run(hq_admin, buffer.getvalue(), filename="wide.xlsx")
    assert job.status == "refused"
    assert job.message.startswith("wide.xlsx has something in a column beyond ZZ")


def test_rows_of_a_namespace_prefixed_sheet_are_counted(hq_admin, settings):
    """Some writers prefix every tag (`<x:row r="...">`): the extent check still sees
    the stray row far below the data."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    sheet.cell(row=900_000, column=1).value = "x"
    buffer = io.BytesIO()
    workbook.save(buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    prefixed = io.BytesIO()
    with zipfile.ZipFile(prefixed, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<row ", b"<x:row ").replace(b"</row>", b"</x:row>")
            target.writestr(info, data)
    settings.OMO_IMPORT_MAX_ROWS = 1000
    with pytest.raises(FileRefused, match="has something in row 900,000"):
        _sheet_extent_check(prefixed.getvalue(), "prefixed.xlsx")


@pytest.mark.parametrize("seed", range(40))
def test_barcode_owners_on_random_files_follow_the_rule(hq_admin, seed):
    """Existing skus with random barcodes, a file giving random barcodes to some of
    them and to new skus: the errors are those the rule gives (import-format.md), worked
    out here the plain way (the validation finds them with set operations)."""
    random = Random(seed)
    pool = [str(100 + i) for i in range(8)]
    owners: dict[str, str] = {}
    for i in range(5):
        variant = VariantFactory(sku=f"E{i}")
        for code in random.sample(pool, random.randint(0, 3)):
            if code not in owners:
                BarcodeFactory(code=code, variant=variant)
                owners[code] = variant.sku
    skus = random.sample([f"E{i}" for i in range(5)] + ["N1", "N2"], random.randint(1, 7))
    given = {sku: random.sample(pool, random.randint(0, 2)) for sku in skus}
    rows = [[sku, "tee", "Tee", "1", "|".join(given[sku]), ""] for sku in skus]
    listing: dict[str, set[str]] = {}
    for sku in skus:
        for code in given[sku]:
            listing.setdefault(code, set()).add(sku)
    expected = []
    for number, sku in enumerate(skus, start=2):
        for code in given[sku]:
            if len(listing[code]) > 1:
                others = ", ".join(sorted(listing[code] - {sku}))
                message = f"barcode `{code}` is also given to sku {others} in this file"
                expected.append((number, "barcode", message))
        for code in given[sku]:
            owner = owners.get(code)
            if owner and owner != sku and (owner not in given or code in given[owner]):
                message = f"barcode `{code}` already belongs to sku {owner}"
                expected.append((number, "barcode", message))
    job = run(hq_admin, csv_bytes(rows))
    assert job.status == "previewed", job.message
    assert errors_of(job) == expected
