"""Trigram indexes for the variant side of a stock search at 100,000 variants.

The stock screen resolves a search to variant ids first: SKU or variant name contains
the text (Django's icontains: UPPER(col) LIKE UPPER('%x%')), or the product's name
does (catalog_product_name_trgm, 0002). Without these two the SKU and name branches
scanned every variant on each keystroke. PostgreSQL only, like 0002: SQLite scans with
LIKE, which is fine at embedded sizes.
"""

from django.db import migrations

POSTGRES_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS catalog_variant_sku_trgm "
    "ON catalog_variant USING gin (UPPER(sku::text) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS catalog_variant_name_trgm "
    "ON catalog_variant USING gin (UPPER(name::text) gin_trgm_ops)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS catalog_variant_name_trgm",
    "DROP INDEX IF EXISTS catalog_variant_sku_trgm",
]


def _run_on_postgres(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0003_variant_change_seq_id"),
    ]

    operations = [
        migrations.RunPython(
            _run_on_postgres(POSTGRES_FORWARD), _run_on_postgres(POSTGRES_BACKWARD)
        ),
    ]
