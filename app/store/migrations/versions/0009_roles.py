"""PostgreSQL roles, and a database that checks who may do what.

PostgreSQL only (a SQLite file belongs to one desk; see ``app.store.roles``):

- Roles: ``dispatch_owner`` (owns the tables; the administrator is a member),
  ``dispatch_dispatcher`` and ``dispatch_supervisor`` (a supervisor is also a dispatcher).
  People log in as their own role, a member of one of the two (``main.py users add``).
- ``dispatch_sec.kind``: every command kind, the role it needs and the tables it may write.
  ``dispatch_sec.begin_command(kind, actor)`` (SECURITY DEFINER) checks the connected user
  may run ``kind`` and that ``actor`` names that user, then records the command in
  ``dispatch_sec.command`` for this transaction. Desks can call the function but cannot
  write that table, so a transaction's command cannot be forged.
- A statement trigger on every guarded table refuses a desk's write unless the
  transaction began a command whose kind may write that table. A row trigger on ``stop``
  refuses a dispatcher's kinds moving a stop between routes, and a dispatcher's re-plan
  moving stops on more than three routes (one exception's). A deferred check refuses a
  transaction that takes an order off its route and puts it nowhere (neither on a route
  nor in the unassigned list), unless the order is cancelled, or puts an order on two
  routes, on a route and in the unassigned list, or in it twice.
- ``change_log`` is append-only for desks: no UPDATE, DELETE or TRUNCATE grant, and a
  trigger refusing them; an inserted row's actor must be the connected user.
- Tables desks write without a command (telemetry, exceptions, the outbox's record) are
  listed in ``dispatch_sec.open_table``. ``dispatch_sec.secure_schema()`` grants and guards
  every table of ``public`` (tables added by later migrations are guarded by default; the
  upgrade calls it after each run).

The administrator's session (a member of ``dispatch_owner``, or a superuser) passes every
check: it migrates, imports and repairs.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 02:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (not imported), so this revision never changes under us. app.store.roles
# carries the same table for the desk and the SQLite profile; a test compares them.
ALL = "*"
PLAN_TABLES = "plan route stop plan_unassigned change_log"
RELEASE_TABLES = (
    "route route_transition dock_scan gate_override route_publication route_ack change_log"
)
KINDS: tuple[tuple[str, str, str, bool, str], ...] = (
    # kind, role, tables it may write, may move stops between routes, what it is
    ("set_locks", "dispatcher", "route stop change_log", False, "lock or unlock stops"),
    ("set_route_stops", "dispatcher", "route stop change_log", False,
     "re-sequence a route (moving stops between routes: move_stops)"),
    ("move_stops", "supervisor", "route stop change_log", True,
     "move stops between routes (a drag, its undo)"),
    ("replan_routes", "dispatcher", PLAN_TABLES, True,
     "accept a re-plan of one exception's routes"),
    ("replan_fleet", "supervisor", PLAN_TABLES, True, "accept a fleet-wide re-plan"),
    ("plan_day", "supervisor", PLAN_TABLES, True, "plan the day: replace the whole plan"),
    ("order_edit", "dispatcher", "orders order_window " + PLAN_TABLES, True,
     "add, change or cancel an order"),
    ("propose", "dispatcher", "proposal change_log", False, "send a proposal to a supervisor"),
    ("exception_state", "dispatcher", "exception change_log", False,
     "acknowledge or resolve an exception"),
    ("decide_proposal", "supervisor", "proposal " + PLAN_TABLES, True,
     "accept or reject a proposal"),
    ("release", "dispatcher", RELEASE_TABLES, False, "release, recall, load, set a route's status"),
    ("override_gate", "supervisor", RELEASE_TABLES, False, "override a release gate"),
    ("rule_firing", "dispatcher", "rule_firing change_log", False, "record a rule's firing"),
    ("rules_edit", "supervisor", "rule rule_version rule_switch change_log", False,
     "write, switch or pause standing rules"),
    ("devices", "supervisor", "device_map change_log", False, "map tracker devices to vehicles"),
    ("kpi_settings", "supervisor", "kpi_setting change_log", False, "set KPI targets and costs"),
    ("import", "supervisor", ALL, True, "import orders, vehicles, drivers, a recorded day"),
)  # fmt: skip
# Written by desks without a command: telemetry, exceptions (acknowledge, resolve), the
# outbox's record of what arrived, the day's KPIs and what is learned from them, and what
# scanners and drivers report (dock scans, acknowledgements, what was sent to them). A later
# migration adding such a table inserts its name here (PostgreSQL) before its upgrade ends;
# any other new table is guarded (writes need a command).
OPEN_TABLES = (
    "vehicle_position", "breadcrumb", "stop_event", "exception", "outbox",
    "kpi_value", "eta_sample", "kpi_track", "learned_profile",
    "dock_scan", "route_ack", "route_publication",
    "desk",  # each desk's heartbeat (migration 0010)
)  # fmt: skip

OWNER, DISPATCHER, SUPERVISOR = "dispatch_owner", "dispatch_dispatcher", "dispatch_supervisor"
# The routes a dispatcher's re-plan may move stops on: one exception's route(s) and the
# neighbours taking its stops (app.dispatch.service.EXCEPTION_SCOPE_MAX_ROUTES).
DISPATCHER_ROUTES = 3


def _create_role(name: str, options: str) -> None:
    # Roles belong to the server, not the database: another database may have made them.
    op.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{name}') THEN
                CREATE ROLE {name} {options};
            END IF;
        EXCEPTION WHEN duplicate_object THEN NULL;
        END $$
        """
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _create_role(OWNER, "NOLOGIN")
    _create_role(DISPATCHER, "NOLOGIN")
    _create_role(SUPERVISOR, f"NOLOGIN IN ROLE {DISPATCHER}")
    op.execute(f"GRANT {DISPATCHER} TO {SUPERVISOR}")
    # The administrator running this becomes a member of the owner (a superuser already is).
    op.execute(
        f"""
        DO $$ BEGIN
            IF NOT pg_has_role(session_user, '{OWNER}', 'MEMBER') THEN
                EXECUTE format('GRANT {OWNER} TO %I', session_user);
            END IF;
        END $$
        """
    )
    op.execute(f"CREATE SCHEMA IF NOT EXISTS dispatch_sec AUTHORIZATION {OWNER}")
    op.execute(f"GRANT USAGE ON SCHEMA dispatch_sec TO {DISPATCHER}")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {DISPATCHER}")
    op.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {OWNER}")
    # Before PostgreSQL 15 everyone may create objects in public: desks may not.
    op.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    op.execute(
        """
        CREATE TABLE dispatch_sec.kind (
            kind text PRIMARY KEY,
            role text NOT NULL CHECK (role IN ('dispatcher', 'supervisor')),
            tables text[] NOT NULL,
            moves boolean NOT NULL,
            description text NOT NULL
        )
        """
    )
    for kind, role, tables, moves, description in KINDS:
        names = "{" + ",".join(tables.split()) + "}"
        op.execute(
            "INSERT INTO dispatch_sec.kind VALUES "
            f"('{kind}', '{role}', '{names}', {str(moves).lower()}, "
            f"'{description.replace(chr(39), chr(39) * 2)}')"
        )
    op.execute("CREATE TABLE dispatch_sec.open_table (name text PRIMARY KEY)")
    for name in OPEN_TABLES:
        op.execute(f"INSERT INTO dispatch_sec.open_table VALUES ('{name}')")
    # Every command a desk ran, as the database saw it: its transaction, kind, the user
    # connected and the actor the command named. Rolled-back commands leave no row.
    op.execute(
        """
        CREATE TABLE dispatch_sec.command (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
            kind text NOT NULL REFERENCES dispatch_sec.kind,
            db_user text NOT NULL,
            actor text NOT NULL,
            at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX ix_command_txid ON dispatch_sec.command (txid)")
    # Orders taken off a route or the unassigned list in a transaction (checked at commit).
    op.execute(
        """
        CREATE TABLE dispatch_sec.txn_order (
            txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
            order_id text NOT NULL,
            PRIMARY KEY (txid, order_id)
        )
        """
    )
    # Routes a dispatcher's command moved stops on in a transaction (at most a few).
    op.execute(
        """
        CREATE TABLE dispatch_sec.txn_route (
            txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
            route_id text NOT NULL,
            PRIMARY KEY (txid, route_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE dispatch_sec.txn_check (
            txid xid8 PRIMARY KEY DEFAULT pg_current_xact_id()
        )
        """
    )
    op.execute(f"GRANT SELECT ON dispatch_sec.kind, dispatch_sec.open_table TO {DISPATCHER}")

    op.execute(
        f"""
        CREATE FUNCTION dispatch_sec.is_admin() RETURNS boolean
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
            SELECT pg_has_role(session_user, '{OWNER}', 'MEMBER')
        $$;

        CREATE FUNCTION dispatch_sec.my_role() RETURNS text
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
            SELECT CASE
                WHEN pg_has_role(session_user, '{OWNER}', 'MEMBER') THEN 'owner'
                WHEN pg_has_role(session_user, '{SUPERVISOR}', 'MEMBER') THEN 'supervisor'
                WHEN pg_has_role(session_user, '{DISPATCHER}', 'MEMBER') THEN 'dispatcher'
                ELSE NULL END
        $$;

        -- An actor names the connected user: ``user``, ``user@workstation`` or with a
        -- prefix saying how (``import:user``); a standing rule's own name (``rule:...``)
        -- is allowed too (the rule runs on this user's desk; the command record names both).
        CREATE FUNCTION dispatch_sec.actor_ok(p_actor text) RETURNS boolean
        LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
            SELECT coalesce(p_actor, '') LIKE 'rule:%'
                OR regexp_replace(split_part(coalesce(p_actor, ''), '@', 1), '^[a-z_]+:', '')
                   = session_user::text
        $$;

        CREATE FUNCTION dispatch_sec.begin_command(p_kind text, p_actor text) RETURNS text
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DECLARE
            k dispatch_sec.kind;
            who text := session_user;
            v_role text := dispatch_sec.my_role();
        BEGIN
            SELECT * INTO k FROM dispatch_sec.kind WHERE kind = p_kind;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'refused: unknown command kind %', quote_literal(p_kind)
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF v_role IS NULL THEN
                RAISE EXCEPTION 'refused: % is neither a dispatcher nor a supervisor of '
                    'this database', who USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF v_role <> 'owner' THEN
                IF NOT pg_has_role(who, 'dispatch_' || k.role, 'MEMBER') THEN
                    RAISE EXCEPTION 'refused: kind % (%) is a % command; % works as %',
                        p_kind, k.description, k.role, who, v_role
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                IF NOT dispatch_sec.actor_ok(p_actor) THEN
                    RAISE EXCEPTION 'refused: forged actor: the command names %, '
                        'but % is connected', quote_literal(p_actor), who
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
            END IF;
            INSERT INTO dispatch_sec.command (kind, db_user, actor)
                VALUES (p_kind, who, coalesce(p_actor, who));
            RETURN v_role;
        END $$;

        -- The statement guard of every protected table.
        CREATE FUNCTION dispatch_sec.guard() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            IF dispatch_sec.is_admin() THEN
                RETURN NULL;
            END IF;
            IF TG_TABLE_NAME = 'change_log' AND TG_OP <> 'INSERT' THEN
                RAISE EXCEPTION 'refused: the change log is append-only (% by %)',
                    TG_OP, session_user USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF NOT EXISTS (
                SELECT 1 FROM dispatch_sec.command c JOIN dispatch_sec.kind k USING (kind)
                WHERE c.txid = pg_current_xact_id()
                  AND ('*' = ANY (k.tables) OR TG_TABLE_NAME = ANY (k.tables))
            ) THEN
                RAISE EXCEPTION 'refused: % on % without a command that may write it '
                    '(call dispatch_sec.begin_command first; commands of this transaction: %)',
                    TG_OP, TG_TABLE_NAME,
                    coalesce((SELECT string_agg(kind, ', ') FROM dispatch_sec.command
                              WHERE txid = pg_current_xact_id()), 'none')
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NULL;
        END $$;

        -- The change log's rows name the connected user (or a standing rule it ran).
        CREATE FUNCTION dispatch_sec.change_log_actor() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            IF NOT dispatch_sec.is_admin() AND NOT dispatch_sec.actor_ok(NEW.actor) THEN
                RAISE EXCEPTION 'refused: forged actor: a change-log row names %, '
                    'but % is connected', quote_literal(NEW.actor), session_user
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END $$;

        -- A stop put on a route, taken off one or moved: only by kinds that may move.
        CREATE FUNCTION dispatch_sec.stop_moves() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            IF dispatch_sec.is_admin() THEN
                RETURN NULL;
            END IF;
            IF TG_OP = 'UPDATE' AND NEW.route_id = OLD.route_id
                    AND NEW.order_id = OLD.order_id THEN
                RETURN NULL;
            END IF;
            IF NOT EXISTS (
                SELECT 1 FROM dispatch_sec.command c JOIN dispatch_sec.kind k USING (kind)
                WHERE c.txid = pg_current_xact_id() AND k.moves
                  AND pg_has_role(session_user, 'dispatch_' || k.role, 'MEMBER')
            ) THEN
                RAISE EXCEPTION 'refused: moving stops between routes (order % on route %) '
                    'is a supervisor command (move_stops); % may propose it',
                    coalesce(NEW.order_id, OLD.order_id), coalesce(NEW.route_id, OLD.route_id),
                    session_user USING ERRCODE = 'insufficient_privilege';
            END IF;
            -- A dispatcher's moves (one exception's re-plan) stay within a few routes.
            IF NOT pg_has_role(session_user, '{SUPERVISOR}', 'MEMBER') THEN
                INSERT INTO dispatch_sec.txn_route (route_id)
                    SELECT r FROM unnest(ARRAY[NEW.route_id, OLD.route_id]) AS r
                    WHERE r IS NOT NULL ON CONFLICT DO NOTHING;
                INSERT INTO dispatch_sec.txn_check DEFAULT VALUES ON CONFLICT DO NOTHING;
                IF (SELECT count(*) FROM dispatch_sec.txn_route
                    WHERE txid = pg_current_xact_id()) > {DISPATCHER_ROUTES} THEN
                    RAISE EXCEPTION 'refused: a dispatcher''s re-plan moves stops on at most '
                        '% routes (one exception''s); moving more is a supervisor command',
                        {DISPATCHER_ROUTES} USING ERRCODE = 'insufficient_privilege';
                END IF;
            END IF;
            RETURN NULL;
        END $$;

        -- Orders leaving a stop or the unassigned list: remembered, checked at commit.
        CREATE FUNCTION dispatch_sec.note_order() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            IF dispatch_sec.is_admin() THEN
                RETURN NULL;
            END IF;
            IF TG_OP = 'UPDATE' AND NEW.order_id = OLD.order_id THEN
                RETURN NULL;
            END IF;
            INSERT INTO dispatch_sec.txn_order (order_id)
                SELECT o FROM unnest(ARRAY[NEW.order_id, OLD.order_id]) AS o
                WHERE o IS NOT NULL ON CONFLICT DO NOTHING;
            INSERT INTO dispatch_sec.txn_check DEFAULT VALUES ON CONFLICT DO NOTHING;
            RETURN NULL;
        END $$;

        CREATE FUNCTION dispatch_sec.check_orders() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DECLARE
            lost text;
            twice text;
        BEGIN
            -- Each order the transaction touched: on how many routes and unassigned lists.
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
                       coalesce(o.status, 'cancelled') <> 'cancelled' AS open
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

        CREATE CONSTRAINT TRIGGER dispatch_orders_kept AFTER INSERT ON dispatch_sec.txn_check
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
            EXECUTE FUNCTION dispatch_sec.check_orders();

        -- Grants and guards for every table of public; idempotent, run after each upgrade.
        CREATE FUNCTION dispatch_sec.secure_schema() RETURNS void
        LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
        DECLARE
            t record;
        BEGIN
            FOR t IN SELECT c.relname FROM pg_class c
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') LOOP
                EXECUTE format('REVOKE ALL ON public.%I FROM PUBLIC', t.relname);
                IF t.relname = 'alembic_version' THEN
                    EXECUTE format('GRANT SELECT ON public.%I TO {DISPATCHER}', t.relname);
                    CONTINUE;
                ELSIF t.relname = 'change_log' THEN
                    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON public.%I FROM '
                                   '{DISPATCHER}, {SUPERVISOR}', t.relname);
                    EXECUTE format('GRANT SELECT, INSERT ON public.%I TO {DISPATCHER}',
                                   t.relname);
                ELSE
                    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO '
                                   '{DISPATCHER}', t.relname);
                END IF;
                IF NOT EXISTS (SELECT 1 FROM dispatch_sec.open_table o
                               WHERE o.name = t.relname)
                   AND NOT EXISTS (SELECT 1 FROM pg_trigger g
                                   WHERE g.tgrelid = format('public.%I', t.relname)::regclass
                                     AND g.tgname = 'dispatch_guard') THEN
                    EXECUTE format('CREATE TRIGGER dispatch_guard BEFORE INSERT OR UPDATE '
                                   'OR DELETE OR TRUNCATE ON public.%I FOR EACH STATEMENT '
                                   'EXECUTE FUNCTION dispatch_sec.guard()', t.relname);
                END IF;
            END LOOP;
            EXECUTE 'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {DISPATCHER}';
            FOR t IN SELECT n.nspname, c.relname FROM pg_class c
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname IN ('public', 'dispatch_sec') AND c.relkind IN ('r', 'p')
                       AND pg_get_userbyid(c.relowner) <> '{OWNER}' LOOP
                EXECUTE format('ALTER TABLE %I.%I OWNER TO {OWNER}', t.nspname, t.relname);
            END LOOP;
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER dispatch_change_log_actor BEFORE INSERT ON change_log "
        "FOR EACH ROW EXECUTE FUNCTION dispatch_sec.change_log_actor()"
    )
    op.execute(
        "CREATE TRIGGER dispatch_stop_moves AFTER INSERT OR UPDATE OR DELETE ON stop "
        "FOR EACH ROW EXECUTE FUNCTION dispatch_sec.stop_moves()"
    )
    for table in ("stop", "plan_unassigned"):
        op.execute(
            f"CREATE TRIGGER dispatch_note_order AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION dispatch_sec.note_order()"
        )
    op.execute("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA dispatch_sec FROM PUBLIC")
    for fn in ("is_admin()", "my_role()", "actor_ok(text)", "begin_command(text, text)", "guard()",
               "change_log_actor()", "stop_moves()", "note_order()", "check_orders()"):  # fmt: skip
        op.execute(f"ALTER FUNCTION dispatch_sec.{fn} OWNER TO {OWNER}")
    op.execute(
        f"GRANT EXECUTE ON FUNCTION dispatch_sec.begin_command(text, text), "
        f"dispatch_sec.my_role(), dispatch_sec.is_admin() TO {DISPATCHER}"
    )
    op.execute("SELECT dispatch_sec.secure_schema()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("stop", "plan_unassigned"):
        op.execute(f"DROP TRIGGER IF EXISTS dispatch_note_order ON {table}")
    op.execute("DROP TRIGGER IF EXISTS dispatch_stop_moves ON stop")
    op.execute("DROP TRIGGER IF EXISTS dispatch_change_log_actor ON change_log")
    op.execute(
        """
        DO $$ DECLARE t record; BEGIN
            FOR t IN SELECT tgrelid::regclass AS rel FROM pg_trigger
                     WHERE tgname = 'dispatch_guard' LOOP
                EXECUTE format('DROP TRIGGER dispatch_guard ON %s', t.rel);
            END LOOP;
        END $$
        """
    )
    op.execute("DROP SCHEMA IF EXISTS dispatch_sec CASCADE")
