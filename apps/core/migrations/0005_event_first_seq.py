from django.db import migrations, models


def packs_delete(apps, schema_editor):
    """Going back to code that knows no packs: their events are dropped, so a client
    resuming from before them is told to read the stock in full (resync_required)
    instead of being sent a pack as one message."""
    apps.get_model("core", "Event").objects.filter(first_seq__isnull=False).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_event_created_at_brin"),
    ]

    operations = [
        migrations.AddField(
            model_name="event",
            name="first_seq",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(migrations.RunPython.noop, packs_delete),
    ]
