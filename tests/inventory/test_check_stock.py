import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.inventory.models import Lot, LotLevel, Movement, StockLevel
from apps.inventory.services import SellLine, stock_receive, stock_reserve, stock_sell
from tests.factories import VariantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stocked(store_a, store_b):
    tee = VariantFactory(sku="TEE-M")
    cream = VariantFactory(sku="CREAM-1", tracking="lot")
    stock_receive(location=store_a, variant=tee, quantity=5, actor=None)
    stock_receive(location=store_b, variant=tee, quantity=2, actor=None)
    stock_receive(location=store_a, variant=cream, quantity=4, lot_code="L1", actor=None)
    stock_reserve(
        location=store_a, lines=[(tee, 2)], actor=None, reference_type="o", reference_id="1"
    )
    stock_sell(
        location=store_b, lines=[SellLine(tee, 3)], actor=None, reference_type="s", reference_id="1"
    )
    return tee, cream


def run(capsys):
    call_command("check_stock")
    return capsys.readouterr().out


def test_clean_ledger_exits_zero_with_a_summary(stocked, capsys):
    assert run(capsys).strip() == "check_stock: 3 stock levels match their ledger."


def test_check_is_one_query_per_check_whatever_the_size(stocked, django_assert_num_queries):
    # Five checks (ledger, lots, ledger rows' level, levels' variant and location, ledger
    # rows' actor and lot) and the summary count.
    with django_assert_num_queries(6):
        call_command("check_stock")


def test_corrupted_balance_is_named_and_exits_non_zero(stocked, store_a, capsys):
    tee, _ = stocked
    level = StockLevel.objects.get(location=store_a, variant=tee)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inventory_stocklevel SET on_hand = on_hand + 7 WHERE id = %s", [level.pk]
        )
    with pytest.raises(CommandError, match="1 stock level"):
        call_command("check_stock")
    out = capsys.readouterr().out
    assert (
        "MISMATCH sku=TEE-M location=SA1 on_hand=12 ledger_on_hand=5 reserved=2 ledger_reserved=2"
        in out
    )


def test_lot_levels_that_do_not_add_up_are_named(stocked, store_a, capsys):
    LotLevel.objects.filter(location=store_a).update(on_hand=1)
    with pytest.raises(CommandError):
        call_command("check_stock")
    assert "LOT MISMATCH sku=CREAM-1 location=SA1 on_hand=4 lots=1" in capsys.readouterr().out


def test_ledger_row_naming_another_variant_than_its_level_is_named(stocked, store_a, capsys):
    # Movement.variant/location have no constraint of their own (the level's holds them):
    # check_stock is what verifies that they copy the level's.
    tee, cream = stocked
    level = StockLevel.objects.get(location=store_a, variant=tee)
    movement = level.movements.order_by("id").first()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inventory_movement SET variant_id = %s WHERE id = %s", [cream.pk, movement.pk]
        )
    with pytest.raises(CommandError, match="1 stock level"):
        call_command("check_stock")
    out = capsys.readouterr().out
    assert (
        f"MOVEMENT MISMATCH id={movement.pk} level={level.pk} "
        f"variant={cream.pk} location={store_a.pk}" in out
    )
    assert "MISMATCH sku=" not in out  # the balances themselves still agree


def test_ledger_row_whose_level_is_missing_is_named(stocked, store_a, capsys):
    # Movement.level has no constraint (levels are never deleted): check_stock is what
    # would notice a ledger row pointing nowhere.
    tee, _ = stocked
    level = StockLevel.objects.get(location=store_a, variant=tee)
    movement = level.movements.order_by("id").first()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inventory_movement SET level_id = %s WHERE id = %s", [10**9, movement.pk]
        )
    with pytest.raises(CommandError, match="2 stock level"):
        call_command("check_stock")
    out = capsys.readouterr().out
    assert (
        f"MOVEMENT MISMATCH id={movement.pk} level={10**9} "
        f"variant={tee.pk} location={store_a.pk}" in out
    )
    # The level it left no longer adds up either.
    assert "MISMATCH sku=TEE-M location=SA1 on_hand=5 ledger_on_hand=0" in out


def _repoint_level(level_pk: int, **columns: int) -> None:
    """Point a level and its ledger rows at other ids (raw SQL: what no service does)."""
    assignments = ", ".join(f"{column} = %s" for column in columns)
    values = list(columns.values())
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE inventory_stocklevel SET {assignments} WHERE id = %s",  # noqa: S608
            [*values, level_pk],
        )
        cursor.execute(
            f"UPDATE inventory_movement SET {assignments} WHERE level_id = %s",  # noqa: S608
            [*values, level_pk],
        )


def test_level_whose_variant_is_missing_is_named(stocked, store_b, capsys):
    tee, _ = stocked
    level = StockLevel.objects.get(location=store_b, variant=tee)
    # Its ledger rows follow it, so only the missing variant is wrong.
    _repoint_level(level.pk, variant_id=10**9)
    with pytest.raises(CommandError, match="1 stock level"):
        call_command("check_stock")
    out = capsys.readouterr().out
    assert f"LEVEL WITHOUT VARIANT id={level.pk} variant={10**9} location={store_b.pk}" in out
    assert "MOVEMENT MISMATCH" not in out


def test_level_whose_location_is_missing_is_named(stocked, store_b, capsys):
    # StockLevel.location has no constraint: check_stock is what would notice a level
    # whose location is gone.
    tee, _ = stocked
    level = StockLevel.objects.get(location=store_b, variant=tee)
    # Its ledger rows follow it, so only the missing location is wrong.
    _repoint_level(level.pk, location_id=10**9)
    with pytest.raises(CommandError, match="1 stock level"):
        call_command("check_stock")
    out = capsys.readouterr().out
    assert f"LEVEL WITHOUT LOCATION id={level.pk} variant={tee.pk} location={10**9}" in out
    assert "LEVEL WITHOUT VARIANT" not in out
    assert "MOVEMENT MISMATCH" not in out


def test_level_without_variant_nor_location_is_one_problem_named_twice(stocked, store_b, capsys):
    tee, _ = stocked
    level = StockLevel.objects.get(location=store_b, variant=tee)
    _repoint_level(level.pk, variant_id=10**9, location_id=10**9 + 1)
    with pytest.raises(CommandError, match="1 stock level"):
        call_command("check_stock")
    out = capsys.readouterr().out
    names = f"id={level.pk} variant={10**9} location={10**9 + 1}"
    assert f"LEVEL WITHOUT VARIANT {names}" in out
    assert f"LEVEL WITHOUT LOCATION {names}" in out


@pytest.mark.parametrize(
    ("column", "label", "name"),
    [
        ("actor_user_id", "USER", "user"),
        ("actor_client_id", "CLIENT", "client"),
        ("lot_id", "LOT", "lot"),
    ],
)
def test_ledger_row_whose_actor_or_lot_is_missing_is_named(stocked, column, label, name, capsys):
    # Movement.actor_user / actor_client / lot have no constraint: check_stock is what
    # would notice a ledger row naming one that is gone.
    movement = Movement.objects.order_by("id").first()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE inventory_movement SET {column} = %s WHERE id = %s",  # noqa: S608
            [10**9, movement.pk],
        )
    with pytest.raises(CommandError, match="1 stock level"):
        call_command("check_stock")
    out = capsys.readouterr().out
    assert out.splitlines() == [f"MOVEMENT WITHOUT {label} id={movement.pk} {name}={10**9}"]


def test_ledger_rows_naming_existing_actors_and_lots_are_clean(stocked, hq_admin, device_a, capsys):
    client, _ = device_a
    _, cream = stocked
    lot = Lot.objects.get(variant=cream)
    movements = list(Movement.objects.order_by("id"))
    Movement.objects.filter(pk=movements[0].pk).update(actor_user=hq_admin)
    Movement.objects.filter(pk=movements[1].pk).update(actor_client=client)
    assert Movement.objects.filter(lot=lot).exists()  # the lot receipt names its lot
    assert run(capsys).strip() == "check_stock: 3 stock levels match their ledger."
