"""Build small import files in tests."""

import csv
import io

from apps.imports.services import import_job_create

HEADER = ["sku", "product_handle", "product_name", "price", "barcode", "category"]


def csv_bytes(rows, header=HEADER, encoding="utf-8", delimiter=",") -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def run(actor, data: bytes, filename="catalog.csv", **kwargs):
    """Upload and validate synchronously (the task runs the same service)."""
    return import_job_create(actor=actor, filename=filename, content=data, run_now=True, **kwargs)
