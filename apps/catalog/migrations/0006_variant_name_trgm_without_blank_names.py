"""catalog_variant_name_trgm (0004) leaves out the variants without a name of their own.

A blank name (the default: the variant shows its product's name and options) never
contains a search text, and most SKUs have one: an import of 100,000 of them wrote an
empty-trigram entry for each. The stock screen's search says `name <> ''` beside its
name match (apps.inventory.selectors) so that PostgreSQL can use this partial index.
PostgreSQL only, like 0004.
"""

from django.db import migrations

POSTGRES_FORWARD = [
    "DROP INDEX IF EXISTS catalog_variant_name_trgm",
    "CREATE INDEX catalog_variant_name_trgm "
    "ON catalog_variant USING gin (UPPER(name::text) gin_trgm_ops) WHERE name <> ''",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS catalog_variant_name_trgm",
    "CREATE INDEX catalog_variant_name_trgm "
    "ON catalog_variant USING gin (UPPER(name::text) gin_trgm_ops)",
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
        ("catalog", "0005_drop_like_pattern_indexes"),
    ]

    operations = [
        migrations.RunPython(
            _run_on_postgres(POSTGRES_FORWARD), _run_on_postgres(POSTGRES_BACKWARD)
        ),
    ]
