"""Drop the LIKE-pattern (varchar_pattern_ops) indexes that Django adds on PostgreSQL
beside Product.handle, Product.brand, Variant.sku and Barcode.code.

No query reads these columns with a case-sensitive LIKE: the SKU prefix search is
UPPER(sku) LIKE (migration 0002's pattern index), the brand filter is UPPER(brand) =
UPPER(...), and the exact lookups (handle, sku, barcode) are served by the unique
indexes just as well. Each twin cost an entry per row an import writes (100,000 SKUs
and barcodes in the imports bench). Brand keeps a plain btree (brand_list's ordered
DISTINCT reads it), now declared in Meta. SQLite has no such indexes.
"""

from django.db import migrations, models

# Django's names for them (schema_editor._create_index_name(table, [column], "_like")).
LIKE_INDEXES = [
    ("catalog_product_handle_31ef88e7_like", "catalog_product", "handle"),
    ("catalog_variant_sku_92777037_like", "catalog_variant", "sku"),
    ("catalog_barcode_code_1edaa158_like", "catalog_barcode", "code"),
]
POSTGRES_FORWARD = [f"DROP INDEX IF EXISTS {name}" for name, _, _ in LIKE_INDEXES]
POSTGRES_BACKWARD = [
    f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column} varchar_pattern_ops)"
    for name, table, column in LIKE_INDEXES
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
        ("catalog", "0004_variant_search_trgm"),
    ]

    operations = [
        migrations.AlterField(
            model_name="product",
            name="brand",
            field=models.CharField(blank=True, max_length=120),
        ),
        migrations.AddIndex(
            model_name="product",
            index=models.Index(fields=["brand"], name="product_brand"),
        ),
        migrations.RunPython(
            _run_on_postgres(POSTGRES_FORWARD), _run_on_postgres(POSTGRES_BACKWARD)
        ),
    ]
