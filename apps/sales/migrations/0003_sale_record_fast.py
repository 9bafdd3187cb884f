"""PostgreSQL only: `sales_sale_record_fast`, a plain POS sale in one statement.

A POS sale wrote its rows in a dozen round trips (BEGIN, the order number, the ledger,
the order, its lines, its payments, the idempotency record, COMMIT), and held the
location's order counter and stock stream row locks across all of them: the tills of
one store queued on each other for as long as the slowest of those round trips. The
function does the same writes in the server, in the same order and with the same rules
as `services.sale_record` followed by `apps.core.idempotency` storing the response:

- the next order number of the location (`sales_counter`, created when missing);
- the ledger through `inventory_stock_apply_fast` (inventory migration 0002), reference
  ("sale", <number>); when it refuses (a level missing, a sale short of the count), the
  function raises SQLSTATE OMO01 and, being one statement, leaves nothing written: the
  caller takes the general path, which records the shortfall and its discrepancy;
- the order, its lines in the order given, its payments;
- the idempotency record, whose response body is the caller's text with the values
  only the database knows put in: `p_body` is that text cut where they go, as a JSON
  array of strings (the order id, its number as a JSON string, then each line's id go
  between the pieces, in this order).

It returns the ledger function's rows, each with the order id, number and line ids.
Called in autocommit, it is its own transaction: the locks are released by the server
as soon as it is done. SQLite has no functions; there (and for anything but a plain
sale) the Python path writes the same rows in several statements.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION sales_sale_record_fast(
    p_location bigint,
    p_code text,
    p_changes jsonb,
    p_client bigint,
    p_now timestamptz,
    p_order jsonb,
    p_lines jsonb,
    p_payments jsonb,
    p_scope text,
    p_key uuid,
    p_fingerprint text,
    p_status integer,
    p_body jsonb
) RETURNS TABLE (
    r_order bigint,
    r_number text,
    r_lines bigint[],
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
    counter_name text := 'order.' || p_code;
    last_number bigint;
    line jsonb;
    line_id bigint;
    line_ids bigint[] := '{}';
    body text;
    stock record;
    stock_rows jsonb := '[]'::jsonb;
BEGIN
    UPDATE sales_counter AS c SET last = c.last + 1 WHERE c.name = counter_name
        RETURNING c.last INTO last_number;
    IF NOT FOUND THEN  -- the first order ever at this location
        INSERT INTO sales_counter (name, last) VALUES (counter_name, 0) ON CONFLICT DO NOTHING;
        UPDATE sales_counter AS c SET last = c.last + 1 WHERE c.name = counter_name
            RETURNING c.last INTO last_number;
    END IF;
    r_number := p_code || '-' || CASE WHEN last_number < 1000000
        THEN lpad(last_number::text, 6, '0') ELSE last_number::text END;

    FOR stock IN
        SELECT * FROM inventory_stock_apply_fast(
            p_location, p_changes, 'sale', r_number, NULL, p_client, p_now)
    LOOP
        stock_rows := stock_rows || jsonb_build_array(to_jsonb(stock));
    END LOOP;
    IF jsonb_array_length(stock_rows) = 0 THEN
        RAISE EXCEPTION 'the ledger refused the fast path' USING ERRCODE = 'OMO01';
    END IF;

    INSERT INTO sales_order
        (channel, location_id, number, client_id, created_by_id, occurred_at, received_at,
         status, subtotal, discount_total, total, server_total, member, associate,
         attribution, points_earned, points_redeemed, offline, needs_review, review_reason,
         exchange_of_id, pickup_expires_at, ready_at, closed_at)
    VALUES
        ('pos', p_location, r_number, (p_order ->> 'client_id')::uuid, p_client,
         (p_order ->> 'occurred_at')::timestamptz, p_now, 'completed',
         (p_order ->> 'subtotal')::numeric, (p_order ->> 'discount_total')::numeric,
         (p_order ->> 'total')::numeric, NULL, p_order ->> 'member', p_order ->> 'associate',
         NULL, 0, 0, (p_order ->> 'offline')::boolean, false, '', NULL, NULL, NULL, p_now)
    RETURNING id INTO r_order;

    FOR j IN 1 .. jsonb_array_length(p_lines) LOOP
        line := p_lines -> (j - 1);
        INSERT INTO sales_orderline
            (order_id, position, variant_id, sku, name, quantity, unit_price, discount,
             total, lot, serials, quantity_returned)
        VALUES
            (r_order, j - 1, (line ->> 0)::bigint, line ->> 1, line ->> 2,
             (line ->> 3)::integer, (line ->> 4)::numeric, (line ->> 5)::numeric,
             (line ->> 6)::numeric, line ->> 7, line -> 8, 0)
        RETURNING id INTO line_id;
        line_ids := line_ids || line_id;
    END LOOP;
    r_lines := line_ids;

    INSERT INTO sales_payment (order_id, method, amount, reference)
    SELECT r_order, p.value ->> 0, (p.value ->> 1)::numeric, p.value ->> 2
      FROM jsonb_array_elements(p_payments) WITH ORDINALITY AS p(value, position)
     ORDER BY p.position;

    body := (p_body ->> 0) || r_order::text || (p_body ->> 1) || to_json(r_number)::text;
    FOR j IN 1 .. coalesce(array_length(line_ids, 1), 0) LOOP
        body := body || (p_body ->> (j + 1)) || line_ids[j]::text;
    END LOOP;
    body := body || (p_body ->> -1);
    INSERT INTO core_idempotencyrecord
        (client_id, scope, key, fingerprint, response_status, response_body, created_at)
    VALUES (p_client, p_scope, p_key, p_fingerprint, p_status, body, p_now);

    FOR j IN 0 .. jsonb_array_length(stock_rows) - 1 LOOP
        r_level := (stock_rows -> j ->> 'r_level')::bigint;
        r_on_hand := (stock_rows -> j ->> 'r_on_hand')::integer;
        r_reserved := (stock_rows -> j ->> 'r_reserved')::integer;
        r_reorder_point := (stock_rows -> j ->> 'r_reorder_point')::integer;
        r_negative_allowed := (stock_rows -> j ->> 'r_negative_allowed')::boolean;
        r_movement := (stock_rows -> j ->> 'r_movement')::bigint;
        r_seq := (stock_rows -> j ->> 'r_seq')::bigint;
        r_code := stock_rows -> j ->> 'r_code';
        r_sku := stock_rows -> j ->> 'r_sku';
        RETURN NEXT;
    END LOOP;
END
$$
"""
DROP = "DROP FUNCTION IF EXISTS sales_sale_record_fast"


def _on_postgres(statement: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("sales", "0002_order_location_closed_index"),
        ("inventory", "0005_movement_fewer_constraints_and_indexes"),
        ("core", "0003_idempotency_body_text"),
    ]

    operations = [
        migrations.RunPython(_on_postgres(FUNCTION), _on_postgres(DROP), elidable=False),
    ]
