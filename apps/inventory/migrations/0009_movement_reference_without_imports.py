"""movement_reference leaves out the rows of spreadsheet imports (reference_type
"import").

The index serves an order's movements (sales selectors: by sale, order or return
number); nothing looks an import's rows up by reference, and a first catalog import
writes hundreds of thousands of them, all with one (type, id) key. A partial index
skips them; a lookup by any other type still implies the condition and uses it.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('inventory', '0008_location_actor_lot_without_fk_checks'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='movement',
            name='movement_reference',
        ),
        migrations.AddIndex(
            model_name='movement',
            index=models.Index(condition=models.Q(('reference_type', 'import'), _negated=True), fields=['reference_type', 'reference_id'], name='movement_reference'),
        ),
    ]
