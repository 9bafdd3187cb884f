"""Indexes for the product list at 100,000 variants.

Paging by (name, id) is a portable index. The search-as-you-type indexes only exist on
PostgreSQL: a trigram GIN index serves `name ILIKE '%x%'` (Django's icontains is
UPPER(name) LIKE UPPER(...)), and a pattern index on UPPER(sku) serves the SKU prefix
search. SQLite falls back to scanning with LIKE, which is fine at embedded sizes.
"""

from django.db import migrations, models

POSTGRES_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS catalog_product_name_trgm "
    "ON catalog_product USING gin (UPPER(name::text) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS catalog_variant_sku_upper_pattern "
    "ON catalog_variant (UPPER(sku::text) text_pattern_ops)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS catalog_variant_sku_upper_pattern",
    "DROP INDEX IF EXISTS catalog_product_name_trgm",
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
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="product",
            index=models.Index(fields=["name", "id"], name="product_name_id"),
        ),
        migrations.RunPython(
            _run_on_postgres(POSTGRES_FORWARD), _run_on_postgres(POSTGRES_BACKWARD)
        ),
    ]
