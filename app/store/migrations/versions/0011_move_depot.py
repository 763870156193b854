"""Moving an order to another depot's day is a supervisor's command, checked by the database.

PostgreSQL only (see ``app.store.roles``):

- ``dispatch_sec.kind`` gains ``move_depot`` (a supervisor's; writes orders and the plans),
  so a dispatcher's database user moving an order between depots is refused by the
  database itself, not only at the desk (it used to pass as a dispatcher's ``order_edit``).
- A row trigger on ``orders`` refuses a desk changing an order's depot unless the
  connected user is a supervisor, whatever kind the desk declared (a forged desk sending
  the move as an order edit, or the undo of a move, are checked the same way).
- The commit check that no order is dropped lets an open order off every route and
  unassigned list when its depot has no plan for its day yet: an order moved to a depot
  whose day is not planned waits, open, for that day's first plan (it is not lost).
  An order of a planned day must still be on a route or in the unassigned list.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 05:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported); app.store.roles carries the same row (a test compares them).
KIND = ("move_depot", "supervisor", "orders order_window plan route stop plan_unassigned change_log",
        True, "move an order not yet released to another depot's day")  # fmt: skip

# An open order counts as kept (not dropped) when ... (see check_orders below).
_OPEN_0009 = "coalesce(o.status, 'cancelled') <> 'cancelled'"
_OPEN_0011 = (
    "coalesce(o.status, 'cancelled') <> 'cancelled' AND EXISTS ("
    "SELECT 1 FROM public.plan p JOIN public.depot d ON d.id = p.depot_id "
    "WHERE p.depot_id = o.depot_id "
    "AND p.day = (o.first_window_start AT TIME ZONE d.timezone)::date)"
)


def _check_orders(must_be_placed: str) -> str:
    """``dispatch_sec.check_orders`` (migration 0009's), ``must_be_placed`` saying which
    touched orders must be on a route or in an unassigned list."""
    return f"""
        CREATE OR REPLACE FUNCTION dispatch_sec.check_orders() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DECLARE
            lost text;
            twice text;
        BEGIN
            WITH touched AS (
                SELECT order_id FROM dispatch_sec.txn_order WHERE txid = NEW.txid
            ), on_route AS (
                SELECT order_id, count(*) AS n FROM public.stop
                WHERE order_id IN (SELECT order_id FROM touched) GROUP BY order_id
            ), left_out AS (
                SELECT order_id, count(*) AS n FROM public.plan_unassigned
                WHERE order_id IN (SELECT order_id FROM touched) GROUP BY order_id
            ), counted AS (
                SELECT t.order_id, coalesce(r.n, 0) + coalesce(u.n, 0) AS n,
                       coalesce(({must_be_placed}), false) AS open
                FROM touched t
                LEFT JOIN on_route r USING (order_id)
                LEFT JOIN left_out u USING (order_id)
                LEFT JOIN public.orders o ON o.id = t.order_id
            )
            SELECT (SELECT string_agg(order_id, ', ' ORDER BY order_id)
                    FROM (SELECT order_id FROM counted WHERE n = 0 AND open
                          ORDER BY order_id LIMIT 10) a),
                   (SELECT string_agg(order_id, ', ' ORDER BY order_id)
                    FROM (SELECT order_id FROM counted WHERE n > 1
                          ORDER BY order_id LIMIT 10) b)
            INTO lost, twice;
            DELETE FROM dispatch_sec.txn_order WHERE txid = NEW.txid;
            DELETE FROM dispatch_sec.txn_check WHERE txid = NEW.txid;
            DELETE FROM dispatch_sec.txn_route WHERE txid = NEW.txid;
            IF lost IS NOT NULL THEN
                RAISE EXCEPTION 'refused: orders % would be dropped: on no route and not '
                    'in the unassigned list', lost USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF twice IS NOT NULL THEN
                RAISE EXCEPTION 'refused: orders % would be on two routes, or on a route '
                    'and unassigned, or unassigned twice', twice
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NULL;
        END $$;
        """


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    kind, role, tables, moves, description = KIND
    names = "{" + ",".join(tables.split()) + "}"
    op.execute(
        "INSERT INTO dispatch_sec.kind VALUES "
        f"('{kind}', '{role}', '{names}', {str(moves).lower()}, "
        f"'{description.replace(chr(39), chr(39) * 2)}') ON CONFLICT (kind) DO NOTHING"
    )
    op.execute(_check_orders(_OPEN_0011))
    op.execute(
        """
        CREATE FUNCTION dispatch_sec.order_depot() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            IF dispatch_sec.is_admin() OR NEW.depot_id IS NOT DISTINCT FROM OLD.depot_id THEN
                RETURN NEW;
            END IF;
            IF NOT pg_has_role(session_user, 'dispatch_supervisor', 'MEMBER') THEN
                RAISE EXCEPTION 'refused: moving order % from depot % to depot % is a '
                    'supervisor command (move_depot); % works as dispatcher',
                    OLD.id, OLD.depot_id, NEW.depot_id, session_user
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END $$;
        """
    )
    op.execute("ALTER FUNCTION dispatch_sec.order_depot() OWNER TO dispatch_owner")
    op.execute("REVOKE ALL ON FUNCTION dispatch_sec.order_depot() FROM PUBLIC")
    op.execute(
        "CREATE TRIGGER dispatch_order_depot BEFORE UPDATE OF depot_id ON orders "
        "FOR EACH ROW EXECUTE FUNCTION dispatch_sec.order_depot()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS dispatch_order_depot ON orders")
    op.execute("DROP FUNCTION IF EXISTS dispatch_sec.order_depot()")
    op.execute(_check_orders(_OPEN_0009))
    op.execute(f"DELETE FROM dispatch_sec.kind WHERE kind = '{KIND[0]}'")
