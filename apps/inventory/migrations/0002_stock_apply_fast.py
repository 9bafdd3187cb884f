"""PostgreSQL only: `inventory_stock_apply_fast`, the ledger's fast path in one round trip.

A stock change is a short run of dependent statements (lock and check the levels, take
numbers on the location's stream, write the balances with their seq, the events and
the ledger rows). Sent one by one they cost a round trip and the client's CPU each, and
on one hot row every round trip is time the row stays locked. The function runs them in
the server, in the same order and with the same rules as `ledger.stock_apply`:

- the changes come as one JSON array of [variant_id, on_hand, reserved, reason, lot_id,
  serial, note] (cheaper to send than seven arrays);
- levels are locked (SELECT ... FOR UPDATE) in variant order, all before the stream
  row, which is locked last and held until commit (ARCHITECTURE rule 4: numbers follow
  commits);
- a missing level or a refused rule changes nothing and returns no rows, and the caller
  takes the general path (which creates levels and builds the error);
- each level is written once (balances, seq and updated_at in one UPDATE); levels and
  events are numbered in lock order, the ledger rows are appended in the order given.

SQLite has no functions; there the Python path does the same in several statements.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION inventory_stock_apply_fast(
    p_location bigint,
    p_changes jsonb,
    p_reference_type text,
    p_reference_id text,
    p_actor_user bigint,
    p_actor_client bigint,
    p_now timestamptz
) RETURNS TABLE (
    r_level bigint,
    r_on_hand integer,
    r_reserved integer,
    r_reorder_point integer,
    r_negative_allowed boolean,
    r_movement bigint,
    r_seq bigint,
    r_code text,
    r_sku text
)
LANGUAGE plpgsql AS $$
DECLARE
    n integer := jsonb_array_length(p_changes);
    change jsonb;
    variant_ids bigint[];
    d_on_hand integer[];
    d_reserved integer[];
    lock_order integer[];  -- change indexes by variant: the lock order
    level_ids bigint[];
    seqs bigint[];
    on_hands integer[];
    reserveds integer[];
    reorder_points integer[];
    negatives boolean[];
    skus text[];
    stream_name text;
    base bigint;
    i integer;
    k integer := 0;
    found_level record;
BEGIN
    FOR j IN 1 .. n LOOP
        change := p_changes -> (j - 1);
        variant_ids[j] := (change ->> 0)::bigint;
        d_on_hand[j] := (change ->> 1)::integer;
        d_reserved[j] := (change ->> 2)::integer;
    END LOOP;
    SELECT array_agg(u.o::integer ORDER BY u.v) INTO lock_order
      FROM unnest(variant_ids) WITH ORDINALITY AS u(v, o);
    -- Lock and check every level first, in (variant) order.
    FOREACH i IN ARRAY lock_order LOOP
        SELECT l.id, l.on_hand, l.reserved INTO found_level
          FROM inventory_stocklevel AS l
         WHERE l.location_id = p_location AND l.variant_id = variant_ids[i]
           FOR UPDATE;
        IF NOT FOUND
           OR found_level.reserved + d_reserved[i] < 0
           OR ((d_reserved[i] > 0 OR d_on_hand[i] < 0)
               AND found_level.on_hand + d_on_hand[i] < found_level.reserved + d_reserved[i])
        THEN
            RETURN;  -- nothing written: the caller's general path decides
        END IF;
        level_ids[i] := found_level.id;
    END LOOP;
    -- The stream row last: its lock is held from here to commit.
    SELECT loc.code INTO r_code FROM stores_location AS loc WHERE loc.id = p_location;
    stream_name := 'location.' || r_code;
    UPDATE core_stream AS s SET last_seq = s.last_seq + n WHERE s.name = stream_name
        RETURNING s.last_seq - n INTO base;
    IF NOT FOUND THEN  -- the first change ever at this location
        INSERT INTO core_stream (name, last_seq) VALUES (stream_name, 0) ON CONFLICT DO NOTHING;
        UPDATE core_stream AS s SET last_seq = s.last_seq + n WHERE s.name = stream_name
            RETURNING s.last_seq - n INTO base;
    END IF;
    -- Levels and their events, numbered in lock order (as events_append does).
    FOREACH i IN ARRAY lock_order LOOP
        k := k + 1;
        seqs[i] := base + k;
        UPDATE inventory_stocklevel AS l
           SET on_hand = l.on_hand + d_on_hand[i],
               reserved = l.reserved + d_reserved[i],
               seq = seqs[i],
               updated_at = p_now
         WHERE l.id = level_ids[i]
        RETURNING l.on_hand, l.reserved, l.reorder_point, l.negative_allowed
             INTO r_on_hand, r_reserved, r_reorder_point, r_negative_allowed;
        SELECT v.sku INTO r_sku FROM catalog_variant AS v WHERE v.id = variant_ids[i];
        on_hands[i] := r_on_hand;
        reserveds[i] := r_reserved;
        reorder_points[i] := r_reorder_point;
        negatives[i] := r_negative_allowed;
        skus[i] := r_sku;
        INSERT INTO core_event (stream, seq, type, payload, created_at)
        VALUES (
            stream_name, seqs[i], 'stock',
            jsonb_build_object(
                'location', r_code, 'sku', r_sku, 'on_hand', r_on_hand,
                'reserved', r_reserved, 'available', r_on_hand - r_reserved
            ),
            p_now
        );
    END LOOP;
    -- The ledger rows in the order given, one result row each.
    FOR j IN 1 .. n LOOP
        change := p_changes -> (j - 1);
        INSERT INTO inventory_movement
            (level_id, variant_id, location_id, delta_on_hand, delta_reserved,
             on_hand_after, reserved_after, reason, reference_type, reference_id,
             actor_user_id, actor_client_id, lot_id, serial, note, seq, created_at)
        VALUES
            (level_ids[j], variant_ids[j], p_location, d_on_hand[j], d_reserved[j],
             on_hands[j], reserveds[j], change ->> 3, p_reference_type, p_reference_id,
             p_actor_user, p_actor_client, (change ->> 4)::bigint, change ->> 5, change ->> 6,
             seqs[j], p_now)
        RETURNING id INTO r_movement;
        r_level := level_ids[j];
        r_on_hand := on_hands[j];
        r_reserved := reserveds[j];
        r_reorder_point := reorder_points[j];
        r_negative_allowed := negatives[j];
        r_seq := seqs[j];
        r_sku := skus[j];
        RETURN NEXT;
    END LOOP;
END
$$
"""
DROP = "DROP FUNCTION IF EXISTS inventory_stock_apply_fast"


def _on_postgres(statement: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0001_initial"),
        ("core", "0003_idempotency_body_text"),
    ]

    operations = [
        migrations.RunPython(_on_postgres(FUNCTION), _on_postgres(DROP), elidable=False),
    ]
