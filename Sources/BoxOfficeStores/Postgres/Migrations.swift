import BoxOfficeDomain
/// Versioned schema migrations, applied in order by `Migrator`. Never edit a released one: add a new version.
public enum Migrations {
    public struct Migration: Sendable {
        public let version: Int
        public let name: String
        public let sql: String
    }

    public static let all: [Migration] = [
        Migration(version: 1, name: "initial schema", sql: """
            CREATE TABLE concerts (
                id          BIGINT PRIMARY KEY,
                title       TEXT NOT NULL,
                artist      TEXT NOT NULL
            );

            -- A concert's schedule: one row per date it plays.
            CREATE TABLE concert_dates (
                id          BIGSERIAL PRIMARY KEY,
                concert_id  BIGINT NOT NULL REFERENCES concerts (id),
                date        DATE NOT NULL,
                UNIQUE (concert_id, date)
            );

            -- Seats 1..50 of a date. HELD rows carry the hold's end: a lapsed hold reads as
            -- AVAILABLE at once (queries compare held_until with now()), the sweeper tidies later.
            CREATE TABLE seats (
                date_id         BIGINT NOT NULL REFERENCES concert_dates (id),
                number          INT NOT NULL CHECK (number BETWEEN 1 AND 50),
                price           BIGINT NOT NULL CHECK (price > 0),
                status          TEXT NOT NULL DEFAULT 'AVAILABLE' CHECK (status IN ('AVAILABLE', 'HELD', 'SOLD')),
                held_until      TIMESTAMPTZ,
                reservation_id  UUID,
                PRIMARY KEY (date_id, number),
                CHECK ((status = 'AVAILABLE') = (reservation_id IS NULL)),
                CHECK ((status = 'HELD') = (held_until IS NOT NULL))
            );
            CREATE INDEX seats_held_until ON seats (held_until) WHERE status = 'HELD';
            CREATE INDEX seats_reservation ON seats (reservation_id) WHERE reservation_id IS NOT NULL;

            CREATE TABLE reservations (
                id          UUID PRIMARY KEY,
                user_id     UUID NOT NULL,
                concert_id  BIGINT NOT NULL REFERENCES concerts (id),
                date_id     BIGINT NOT NULL REFERENCES concert_dates (id),
                amount      BIGINT NOT NULL CHECK (amount > 0),
                status      TEXT NOT NULL CHECK (status IN ('HELD', 'CONFIRMED', 'EXPIRED', 'CANCELLED')),
                expires_at  TIMESTAMPTZ NOT NULL,
                created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
                updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
            );
            -- At most one HELD reservation per user per concert, whatever races.
            CREATE UNIQUE INDEX reservations_one_hold ON reservations (user_id, concert_id) WHERE status = 'HELD';
            CREATE INDEX reservations_held_expiry ON reservations (expires_at) WHERE status = 'HELD';

            CREATE TABLE reservation_seats (
                reservation_id  UUID NOT NULL REFERENCES reservations (id),
                date_id         BIGINT NOT NULL,
                seat_number     INT NOT NULL,
                price           BIGINT NOT NULL,
                PRIMARY KEY (reservation_id, seat_number)
            );
            CREATE INDEX reservation_seats_seat ON reservation_seats (date_id, seat_number);

            CREATE TABLE balances (
                user_id     UUID PRIMARY KEY,
                balance     BIGINT NOT NULL CHECK (balance >= 0),
                updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
            );

            -- Every balance change. amount is positive; type says which way it went.
            CREATE TABLE balance_ledger (
                id              BIGSERIAL PRIMARY KEY,
                user_id         UUID NOT NULL,
                type            TEXT NOT NULL CHECK (type IN ('CHARGE', 'PAYMENT')),
                amount          BIGINT NOT NULL CHECK (amount > 0),
                balance_after   BIGINT NOT NULL CHECK (balance_after >= 0),
                reference       TEXT NOT NULL,
                created_at      TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
            );
            CREATE INDEX balance_ledger_user ON balance_ledger (user_id, id DESC);

            CREATE TABLE payments (
                id              UUID PRIMARY KEY,
                reservation_id  UUID NOT NULL UNIQUE REFERENCES reservations (id),
                user_id         UUID NOT NULL,
                amount          BIGINT NOT NULL CHECK (amount > 0),
                paid_at         TIMESTAMPTZ NOT NULL DEFAULT now()
            );

            -- Stored in the same transaction as the money movement it answers.
            CREATE TABLE idempotency_keys (
                user_id         UUID NOT NULL,
                operation       TEXT NOT NULL,
                key             TEXT NOT NULL,
                fingerprint     TEXT NOT NULL,
                status_code     INT NOT NULL,
                response_body   TEXT NOT NULL,
                created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
                PRIMARY KEY (user_id, operation, key)
            );
            """),
        Migration(version: 2, name: "idempotency key retention", sql: """
            -- The sweeper deletes keys past IDEMPOTENCY_KEY_SECONDS oldest first.
            CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
            """),
        Migration(version: 3, name: "idempotency keys store results", sql: """
            -- A key row keeps the operation's result (JSON), not an HTTP status and body: the HTTP
            -- layer renders a replay as it renders a first answer. A committed row's body already
            -- was exactly that JSON (the key is written in its money transaction, so no other
            -- transaction ever sees a row without its result).
            ALTER TABLE idempotency_keys DROP COLUMN status_code;
            ALTER TABLE idempotency_keys RENAME COLUMN response_body TO result;
            """),
        Migration(version: 4, name: "a user's reservations by concert", sql: """
            -- GET /v1/reservations: one user's reservations for one concert, newest first.
            CREATE INDEX reservations_user_concert ON reservations (user_id, concert_id, created_at DESC);
            """),
        Migration(version: 5, name: "payments remember the queue token that paid", sql: """
            -- A payment ends its queue token, in Redis, after it commits. A hold made with that
            -- token in between must not succeed (it could never be paid): the hold transaction
            -- looks for a payment by its token in the same statement that checks HOLD_LIMIT.
            ALTER TABLE payments ADD COLUMN queue_token TEXT;
            CREATE INDEX payments_queue_token ON payments (queue_token) WHERE queue_token IS NOT NULL;
            """),
        Migration(version: 6, name: "a hold in one round trip", sql: """
            -- Its function now lives in Postgres/Functions/ (SQLFunctions), applied after the migrations.
            SELECT 1;
            """),
        Migration(version: 7, name: "a payment in one round trip", sql: """
            -- Its function now lives in Postgres/Functions/ (SQLFunctions), applied after the migrations.
            SELECT 1;
            """),
        Migration(version: 8, name: "a payment with its Idempotency-Key in one round trip", sql: """
            -- Its function now lives in Postgres/Functions/ (SQLFunctions), applied after the migrations.
            SELECT 1;
            """),
        Migration(version: 9, name: "concert ids from a sequence (operators create concerts)", sql: """
            -- Existing ids (the demo's 1-3, any inserted by hand) stay; new ones continue after the largest.
            CREATE SEQUENCE concerts_id_seq OWNED BY concerts.id;
            SELECT setval('concerts_id_seq', greatest((SELECT max(id) FROM concerts), 100));
            ALTER TABLE concerts ALTER COLUMN id SET DEFAULT nextval('concerts_id_seq');
            """),
        Migration(version: 10, name: "the SQL functions move to Postgres/Functions", sql: """
            -- boxoffice_hold gains p_max_tickets (maxTicketsPerUser); its old signature goes, or the
            -- new definition would be an overload (IF EXISTS: a new database never had it).
            DROP FUNCTION IF EXISTS boxoffice_hold(UUID, UUID, TEXT, BIGINT, DATE, INT[], INT);
            """),
        Migration(version: 11, name: "presales with a committed seed, registrations and codes", sql: """
            -- One presale per concert. The seed stays secret until the draw (drawn_at set); its
            -- SHA-256 is public from the start. Registrations lock the presale row FOR SHARE and the
            -- draw FOR UPDATE, so no registration commits into a draw that has begun.
            CREATE TABLE presales (
                concert_id              BIGINT PRIMARY KEY REFERENCES concerts (id),
                registration_closes_at  TIMESTAMPTZ NOT NULL,
                sale_opens_at           TIMESTAMPTZ NOT NULL,
                sale_closes_at          TIMESTAMPTZ NOT NULL,
                winners                 INT NOT NULL CHECK (winners > 0),
                seed                    TEXT NOT NULL,
                seed_commitment         TEXT NOT NULL,
                drawn_at                TIMESTAMPTZ,
                created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
                CHECK (registration_closes_at <= sale_opens_at AND sale_opens_at < sale_closes_at)
            );
            CREATE TABLE presale_registrations (
                concert_id     BIGINT NOT NULL REFERENCES presales (concert_id),
                user_id        UUID NOT NULL,
                registered_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
                won            BOOLEAN,
                code           TEXT,
                PRIMARY KEY (concert_id, user_id)
            );
            """),
        Migration(version: 12, name: "the transactional outbox", sql: """
            -- Every change of a reservation, payment or balance records its event here in the same
            -- transaction (Functions/boxoffice_events.sql); the relay (EventRelay) publishes
            -- unpublished rows in id order and marks them. One relay at a time holds the lease row.
            CREATE TABLE outbox_events (
                id            BIGSERIAL PRIMARY KEY,
                type          TEXT NOT NULL,
                aggregate_id  TEXT NOT NULL,
                payload       JSONB NOT NULL,
                created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
                published_at  TIMESTAMPTZ
            );
            CREATE INDEX outbox_events_unpublished ON outbox_events (id) WHERE published_at IS NULL;
            CREATE INDEX outbox_events_published ON outbox_events (published_at) WHERE published_at IS NOT NULL;
            CREATE INDEX outbox_events_aggregate ON outbox_events (type, aggregate_id);
            CREATE TABLE outbox_relay (
                id           INT PRIMARY KEY CHECK (id = 1),
                holder       TEXT,
                lease_until  TIMESTAMPTZ NOT NULL DEFAULT '-infinity'
            );
            INSERT INTO outbox_relay (id) VALUES (1);
            """),
        Migration(version: 13, name: "webhooks and alert episodes", sql: """
            -- Webhook endpoints and their deliveries (WebhookDispatcher). The relay fans a published
            -- event out to a delivery per subscribed, enabled endpoint in the statement that marks it
            -- published; the dispatcher claims due deliveries and logs every attempt.
            CREATE TABLE webhook_endpoints (
                id               TEXT PRIMARY KEY,
                url              TEXT NOT NULL,
                events           TEXT[] NOT NULL,
                secret           TEXT NOT NULL,
                enabled          BOOLEAN NOT NULL DEFAULT true,
                disabled_reason  TEXT,
                created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
            );
            CREATE TABLE webhook_deliveries (
                id               BIGSERIAL PRIMARY KEY,
                endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
                event_id         BIGINT NOT NULL,
                status           TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
                attempts         INT NOT NULL DEFAULT 0,
                first_due_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
                next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
                UNIQUE (endpoint_id, event_id)
            );
            CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'PENDING';
            CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
            CREATE TABLE webhook_attempts (
                id               BIGSERIAL PRIMARY KEY,
                delivery_id      BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
                endpoint_id      TEXT NOT NULL,
                attempt          INT NOT NULL,
                attempted_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
                http_status      INT,
                error            TEXT,
                duration_ms      INT NOT NULL,
                next_attempt_at  TIMESTAMPTZ
            );
            CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id DESC);
            -- Operator alerts: one row per open episode (AlertMonitor). The instance that inserts it
            -- sends the alert, the one that deletes it sends the all-clear; `holder` keeps it fresh.
            CREATE TABLE alert_episodes (
                key        TEXT PRIMARY KEY,
                holder     TEXT NOT NULL,
                opened_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
                seen_at    TIMESTAMPTZ NOT NULL DEFAULT now()
            );
            -- Responses and 5xx per instance and minute, so every instance judges the fleet's error rate alike.
            CREATE TABLE alert_http_counts (
                instance  TEXT NOT NULL,
                minute    TIMESTAMPTZ NOT NULL,
                total     BIGINT NOT NULL,
                errors    BIGINT NOT NULL,
                PRIMARY KEY (minute, instance)
            );
            """),
        Migration(version: 14, name: "the outbox relay asks to be notified; unsold seats indexed; lighter outbox indexes", sql: """
            -- Set by the relay's claim when it found nothing to publish: while it is true, each new
            -- event notifies the relay (boxoffice_outbox_wake in Functions/boxoffice_events.sql).
            ALTER TABLE outbox_relay ADD COLUMN sleeping BOOLEAN NOT NULL DEFAULT false;
            -- What is left of a concert's seats, asked about once a second per concert and instance
            -- (ConcertDirectory) and after each relayed payment, is a probe or two per date here
            -- instead of a count of every seat (151 ms a call on a 30,000-seat concert).
            CREATE INDEX seats_unsold ON seats (date_id, status) WHERE status <> 'SOLD';
            -- What each event costs its sale (under 10%, Docs/benchmarks.md): an event row is written
            -- twice (inserted, then marked published, a new row version), and every btree gets an
            -- entry each time. The sold-out guard needs only its own type; the purge finds old rows
            -- through a BRIN summary of page ranges (rows are marked, and so placed, in time order).
            DROP INDEX outbox_events_aggregate;
            CREATE INDEX outbox_events_sold_out ON outbox_events (aggregate_id) WHERE type = 'concert.sold_out';
            DROP INDEX outbox_events_published;
            CREATE INDEX outbox_events_published ON outbox_events USING brin (published_at);
            """),
        Migration(version: 15, name: "the purge's summary of published rows leaves unpublished ones to the relay's index", sql: """
            -- A BRIN index answers `published_at IS NULL` too, from a summary of every page range, and
            -- after an ANALYZE that found every row published (the relay caught up) the planner took it
            -- for the relay's mark (`... WHERE id = ANY($1) AND published_at IS NULL`): a lossy scan of
            -- the whole table, 218 ms for 460 ids on 460,000 rows instead of 4.6 ms through
            -- outbox_events_unpublished, and most of what the outbox cost a hold (Docs/benchmarks.md).
            -- Restricted to published rows, it can no longer serve that predicate; the purge's
            -- `published_at < ...` implies it, so the purge keeps it.
            DROP INDEX outbox_events_published;
            CREATE INDEX outbox_events_published ON outbox_events USING brin (published_at) WHERE published_at IS NOT NULL;
            """),
        Migration(version: 16, name: "the relay remembers what it published as snapshots instead of marking each event", sql: """
            -- Marking each event published wrote its row a second time (a new row version, its index
            -- entries, the vacuum after): most of what the outbox cost a sale (Docs/benchmarks.md).
            -- The relay now keeps a cursor, as PgQ does: `xid` is the transaction that wrote the event,
            -- `published` the snapshot whose committed transactions are all published, `batch` the
            -- snapshot being published (the events of the transactions it sees and `published` does
            -- not, in (xid, id) order), `batch_after_xid`/`batch_after_id` the last of it published so
            -- far. An event row is written once.
            ALTER TABLE outbox_events ADD COLUMN xid xid8 NOT NULL DEFAULT '0';
            ALTER TABLE outbox_events ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
            -- Unpublished rows take this transaction's id, which the first cursor has yet to see.
            UPDATE outbox_events SET xid = pg_current_xact_id() WHERE published_at IS NULL;
            ALTER TABLE outbox_events DROP COLUMN published_at;
            CREATE INDEX outbox_events_xid ON outbox_events (xid, id);
            ALTER TABLE outbox_relay
                ADD COLUMN published pg_snapshot,
                ADD COLUMN batch pg_snapshot,
                ADD COLUMN batch_after_xid xid8 NOT NULL DEFAULT '0',
                ADD COLUMN batch_after_id BIGINT NOT NULL DEFAULT 0;
            -- The first cursor: what this transaction's snapshot sees, less this transaction and any
            -- still running (an older instance's event committed after it is published too).
            UPDATE outbox_relay SET published = (
                SELECT (least(pg_snapshot_xmin(s), pg_current_xact_id()) || ':' || least(pg_snapshot_xmax(s), pg_current_xact_id()) || ':'
                        || coalesce((SELECT string_agg(x::text, ',' ORDER BY x) FROM pg_snapshot_xip(s) AS x WHERE x < pg_current_xact_id()), ''))::pg_snapshot
                FROM pg_current_snapshot() AS s);
            ALTER TABLE outbox_relay ALTER COLUMN published SET NOT NULL;
            -- An event of the batch in progress after the last one published (PostgresOutbox's claim):
            -- one lower bound on (xid, id), the later of the cursor's oldest transaction and the last
            -- event published, so that an index scan starts there. SQL expressions the planner
            -- inlines, so the bounds reach outbox_events_xid.
            CREATE FUNCTION boxoffice_outbox_in_batch(
                p_xid xid8, p_id BIGINT, p_published pg_snapshot, p_batch pg_snapshot, p_after_xid xid8, p_after_id BIGINT
            ) RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $$
                SELECT (p_xid, p_id) > (
                           CASE WHEN p_after_xid >= pg_snapshot_xmin(p_published) THEN p_after_xid ELSE pg_snapshot_xmin(p_published) END,
                           CASE WHEN p_after_xid >= pg_snapshot_xmin(p_published) THEN p_after_id ELSE -1 END)
                   AND p_xid < pg_snapshot_xmax(p_batch)
                   AND NOT pg_visible_in_snapshot(p_xid, p_published) AND pg_visible_in_snapshot(p_xid, p_batch)
            $$;
            -- An event of a transaction `p_snapshot` does not see (committed after it was taken).
            CREATE FUNCTION boxoffice_outbox_unseen(p_xid xid8, p_snapshot pg_snapshot) RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $$
                SELECT p_xid >= pg_snapshot_xmin(p_snapshot) AND NOT pg_visible_in_snapshot(p_xid, p_snapshot)
            $$;
            -- The events not published yet, for anyone looking: the rest of the batch in progress, and
            -- what came after it (or after `published`, between batches). Two parts, not one OR, so
            -- each is a walk of the index (a millisecond, not a scan of the table).
            CREATE VIEW outbox_unpublished AS
            SELECT e.* FROM outbox_relay r JOIN outbox_events e
                ON boxoffice_outbox_in_batch(e.xid, e.id, r.published, r.batch, r.batch_after_xid, r.batch_after_id)
            WHERE r.id = 1 AND r.batch IS NOT NULL
            UNION ALL
            SELECT e.* FROM outbox_relay r JOIN outbox_events e ON boxoffice_outbox_unseen(e.xid, coalesce(r.batch, r.published))
            WHERE r.id = 1;
            """),
    ]
}
