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
            -- The whole hold transaction as one function, so a hold is one round trip (issue 11):
            -- the rules and the lock order are those PostgresReservationStore documents, here in
            -- this order: the user's own reservations, then seats by number (ascending seats of one
            -- date). Returns the outcome: HELD (with amount and end), or the rule that refused it:
            -- DATE_NOT_FOUND, TOKEN_EXPIRED, HOLD_LIMIT, SEAT_UNAVAILABLE. A refusal writes
            -- nothing but the expiry of the user's own lapsed hold, which is true either way.
            CREATE FUNCTION boxoffice_hold(
                p_reservation UUID, p_user UUID, p_token TEXT, p_concert BIGINT, p_date DATE, p_seats INT[], p_hold_seconds INT
            ) RETURNS TABLE (outcome TEXT, held_amount BIGINT, held_until TIMESTAMPTZ)
            LANGUAGE plpgsql AS $$
            #variable_conflict use_column
            DECLARE
                v_date_id BIGINT;
                v_blocker TEXT;
                v_found INT;
                v_free INT;
                v_prices BIGINT[];
                v_expires TIMESTAMPTZ;
            BEGIN
                SELECT id INTO v_date_id FROM concert_dates WHERE concert_id = p_concert AND date = p_date AND date >= current_date;
                IF v_date_id IS NULL THEN
                    RETURN QUERY SELECT 'DATE_NOT_FOUND', NULL::BIGINT, NULL::TIMESTAMPTZ; RETURN;
                END IF;

                -- The user's own lapsed hold no longer counts against HOLD_LIMIT.
                UPDATE reservations SET status = 'EXPIRED', updated_at = now()
                WHERE user_id = p_user AND concert_id = p_concert AND status = 'HELD' AND expires_at <= now();
                -- HOLD_LIMIT, and the payment race (migration 5): one statement, one snapshot, sees
                -- the paid reservation still HELD or the payment made with this token, never neither.
                SELECT max(k) INTO v_blocker FROM (
                    (SELECT 'HELD' AS k FROM reservations WHERE user_id = p_user AND concert_id = p_concert AND status = 'HELD' LIMIT 1)
                    UNION ALL
                    (SELECT 'SPENT' FROM payments WHERE queue_token = p_token LIMIT 1)
                ) AS blockers;
                IF v_blocker = 'SPENT' THEN
                    RETURN QUERY SELECT 'TOKEN_EXPIRED', NULL::BIGINT, NULL::TIMESTAMPTZ; RETURN;
                ELSIF v_blocker = 'HELD' THEN
                    RETURN QUERY SELECT 'HOLD_LIMIT', NULL::BIGINT, NULL::TIMESTAMPTZ; RETURN;
                END IF;

                -- Seats locked in number order (the sort is below the row locks).
                SELECT count(*), count(*) FILTER (WHERE free), array_agg(price ORDER BY number)
                INTO v_found, v_free, v_prices
                FROM (
                    SELECT number, price, status = 'AVAILABLE' OR (status = 'HELD' AND held_until <= now()) AS free
                    FROM seats WHERE date_id = v_date_id AND number = ANY(p_seats) ORDER BY number FOR UPDATE
                ) AS locked;
                IF v_found <> cardinality(p_seats) THEN
                    RETURN QUERY SELECT 'DATE_NOT_FOUND', NULL::BIGINT, NULL::TIMESTAMPTZ; RETURN;
                ELSIF v_free <> v_found THEN
                    RETURN QUERY SELECT 'SEAT_UNAVAILABLE', NULL::BIGINT, NULL::TIMESTAMPTZ; RETURN;
                END IF;

                INSERT INTO reservations (id, user_id, concert_id, date_id, amount, status, expires_at)
                VALUES (p_reservation, p_user, p_concert, v_date_id, (SELECT sum(x) FROM unnest(v_prices) AS x), 'HELD',
                        now() + make_interval(secs => p_hold_seconds))
                RETURNING expires_at INTO v_expires;
                INSERT INTO reservation_seats (reservation_id, date_id, seat_number, price)
                SELECT p_reservation, v_date_id, seat, price FROM unnest(p_seats, v_prices) AS s(seat, price);
                UPDATE seats SET status = 'HELD', held_until = v_expires, reservation_id = p_reservation
                WHERE date_id = v_date_id AND number = ANY(p_seats);
                RETURN QUERY SELECT 'HELD', (SELECT sum(x) FROM unnest(v_prices) AS x)::BIGINT, v_expires;
            END
            $$;
            """),
        Migration(version: 7, name: "a payment in one round trip", sql: """
            -- The payment transaction as one function (issue 11), in the shared lock order: the
            -- reservation, its seats by (date_id, number), then the balance. Returns PAID (with the
            -- amount, the balance after and the payment time) or the rule that refused it:
            -- RESERVATION_NOT_FOUND, WRONG_CONCERT, HOLD_EXPIRED, RESERVATION_NOT_HELD,
            -- INSUFFICIENT_BALANCE. A refusal writes nothing. The payment row keeps the queue
            -- token that paid (migration 5).
            CREATE FUNCTION boxoffice_pay(p_payment UUID, p_reservation UUID, p_user UUID, p_token TEXT, p_concert BIGINT)
            RETURNS TABLE (outcome TEXT, paid_amount BIGINT, balance_after BIGINT, paid_at TIMESTAMPTZ)
            LANGUAGE plpgsql AS $$
            #variable_conflict use_column
            DECLARE
                r RECORD;
                v_seats INT;
                v_held INT;
                v_balance BIGINT;
                v_paid_at TIMESTAMPTZ;
            BEGIN
                SELECT user_id, concert_id, status, expires_at <= now() AS lapsed, amount INTO r
                FROM reservations WHERE id = p_reservation FOR UPDATE;
                IF NOT FOUND OR r.user_id <> p_user THEN
                    RETURN QUERY SELECT 'RESERVATION_NOT_FOUND', NULL::BIGINT, NULL::BIGINT, NULL::TIMESTAMPTZ; RETURN;
                ELSIF r.concert_id <> p_concert THEN
                    RETURN QUERY SELECT 'WRONG_CONCERT', NULL::BIGINT, NULL::BIGINT, NULL::TIMESTAMPTZ; RETURN;
                ELSIF r.status = 'EXPIRED' OR (r.status = 'HELD' AND r.lapsed) THEN
                    RETURN QUERY SELECT 'HOLD_EXPIRED', NULL::BIGINT, NULL::BIGINT, NULL::TIMESTAMPTZ; RETURN;
                ELSIF r.status <> 'HELD' THEN
                    RETURN QUERY SELECT 'RESERVATION_NOT_HELD', NULL::BIGINT, NULL::BIGINT, NULL::TIMESTAMPTZ; RETURN;
                END IF;

                SELECT count(*) INTO v_seats FROM reservation_seats WHERE reservation_id = p_reservation;
                SELECT count(*) INTO v_held FROM (
                    SELECT 1 FROM seats WHERE reservation_id = p_reservation AND status = 'HELD' ORDER BY date_id, number FOR UPDATE
                ) AS locked;
                IF v_held <> v_seats THEN
                    RETURN QUERY SELECT 'HOLD_EXPIRED', NULL::BIGINT, NULL::BIGINT, NULL::TIMESTAMPTZ; RETURN;
                END IF;

                SELECT balance INTO v_balance FROM balances WHERE user_id = p_user FOR UPDATE;
                IF coalesce(v_balance, 0) < r.amount THEN
                    RETURN QUERY SELECT 'INSUFFICIENT_BALANCE', NULL::BIGINT, NULL::BIGINT, NULL::TIMESTAMPTZ; RETURN;
                END IF;

                UPDATE balances SET balance = v_balance - r.amount, updated_at = now() WHERE user_id = p_user;
                INSERT INTO balance_ledger (user_id, type, amount, balance_after, reference)
                VALUES (p_user, 'PAYMENT', r.amount, v_balance - r.amount, 'payment:' || p_payment::text);
                INSERT INTO payments (id, reservation_id, user_id, amount, queue_token)
                VALUES (p_payment, p_reservation, p_user, r.amount, p_token)
                RETURNING paid_at INTO v_paid_at;
                UPDATE seats SET status = 'SOLD', held_until = NULL WHERE reservation_id = p_reservation AND status = 'HELD';
                UPDATE reservations SET status = 'CONFIRMED', updated_at = now() WHERE id = p_reservation;
                RETURN QUERY SELECT 'PAID', r.amount, v_balance - r.amount, v_paid_at;
            END
            $$;
            """),
        Migration(version: 8, name: "a payment with its Idempotency-Key in one round trip", sql: """
            -- boxoffice_pay also does the Idempotency-Key's bookkeeping (issue 11), so a payment is one
            -- statement in autocommit, key or not. The key is claimed first: a concurrent duplicate
            -- blocks on its unique index until the first commits (then it gets REPLAY and the stored
            -- receipt) or gives the key up (then it claims it); a refusal gives the key up, as a
            -- rollback did. The receipt is returned as the JSON that is stored, so a first answer
            -- and its replays are the same bytes. Outcomes: PAID, REPLAY, IDEMPOTENCY_KEY_REUSED,
            -- and the refusals of migration 7.
            DROP FUNCTION boxoffice_pay(UUID, UUID, UUID, TEXT, BIGINT);
            CREATE FUNCTION boxoffice_pay(
                p_payment UUID, p_reservation UUID, p_user UUID, p_token TEXT, p_concert BIGINT, p_key TEXT, p_fingerprint TEXT
            ) RETURNS TABLE (outcome TEXT, receipt TEXT)
            LANGUAGE plpgsql AS $$
            #variable_conflict use_column
            DECLARE
                r RECORD;
                v_stored RECORD;
                v_refusal TEXT;
                v_seats INT;
                v_held INT;
                v_balance BIGINT;
                v_paid_at TIMESTAMPTZ;
                v_receipt TEXT;
            BEGIN
                IF p_key IS NOT NULL THEN
                    INSERT INTO idempotency_keys (user_id, operation, key, fingerprint, result)
                    VALUES (p_user, 'payment', p_key, p_fingerprint, '') ON CONFLICT DO NOTHING;
                    IF NOT FOUND THEN
                        SELECT fingerprint, result INTO v_stored FROM idempotency_keys
                        WHERE user_id = p_user AND operation = 'payment' AND key = p_key;
                        IF v_stored.fingerprint <> p_fingerprint THEN
                            RETURN QUERY SELECT 'IDEMPOTENCY_KEY_REUSED', NULL::TEXT; RETURN;
                        END IF;
                        RETURN QUERY SELECT 'REPLAY', v_stored.result; RETURN;
                    END IF;
                END IF;

                SELECT user_id, concert_id, status, expires_at <= now() AS lapsed, amount INTO r
                FROM reservations WHERE id = p_reservation FOR UPDATE;
                IF NOT FOUND OR r.user_id <> p_user THEN
                    v_refusal := 'RESERVATION_NOT_FOUND';
                ELSIF r.concert_id <> p_concert THEN
                    v_refusal := 'WRONG_CONCERT';
                ELSIF r.status = 'EXPIRED' OR (r.status = 'HELD' AND r.lapsed) THEN
                    v_refusal := 'HOLD_EXPIRED';
                ELSIF r.status <> 'HELD' THEN
                    v_refusal := 'RESERVATION_NOT_HELD';
                END IF;
                IF v_refusal IS NULL THEN
                    SELECT count(*) INTO v_seats FROM reservation_seats WHERE reservation_id = p_reservation;
                    SELECT count(*) INTO v_held FROM (
                        SELECT 1 FROM seats WHERE reservation_id = p_reservation AND status = 'HELD' ORDER BY date_id, number FOR UPDATE
                    ) AS locked;
                    IF v_held <> v_seats THEN v_refusal := 'HOLD_EXPIRED'; END IF;
                END IF;
                IF v_refusal IS NULL THEN
                    SELECT balance INTO v_balance FROM balances WHERE user_id = p_user FOR UPDATE;
                    IF coalesce(v_balance, 0) < r.amount THEN v_refusal := 'INSUFFICIENT_BALANCE'; END IF;
                END IF;
                IF v_refusal IS NOT NULL THEN
                    IF p_key IS NOT NULL THEN
                        DELETE FROM idempotency_keys WHERE user_id = p_user AND operation = 'payment' AND key = p_key;
                    END IF;
                    RETURN QUERY SELECT v_refusal, NULL::TEXT; RETURN;
                END IF;

                UPDATE balances SET balance = v_balance - r.amount, updated_at = now() WHERE user_id = p_user;
                INSERT INTO balance_ledger (user_id, type, amount, balance_after, reference)
                VALUES (p_user, 'PAYMENT', r.amount, v_balance - r.amount, 'payment:' || p_payment::text);
                INSERT INTO payments (id, reservation_id, user_id, amount, queue_token)
                VALUES (p_payment, p_reservation, p_user, r.amount, p_token)
                RETURNING paid_at INTO v_paid_at;
                UPDATE seats SET status = 'SOLD', held_until = NULL WHERE reservation_id = p_reservation AND status = 'HELD';
                UPDATE reservations SET status = 'CONFIRMED', updated_at = now() WHERE id = p_reservation;
                v_receipt := json_build_object(
                    'paymentId', p_payment::text, 'reservationId', p_reservation::text, 'amount', r.amount,
                    'balance', v_balance - r.amount, 'status', 'PAID',
                    'paidAt', to_char(v_paid_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))::text;
                IF p_key IS NOT NULL THEN
                    UPDATE idempotency_keys SET result = v_receipt WHERE user_id = p_user AND operation = 'payment' AND key = p_key;
                END IF;
                RETURN QUERY SELECT 'PAID', v_receipt;
            END
            $$;
            """),
        Migration(version: 9, name: "concert ids from a sequence (operators create concerts)", sql: """
            -- Existing ids (the demo's 1-3, any inserted by hand) stay; new ones continue after the largest.
            CREATE SEQUENCE concerts_id_seq OWNED BY concerts.id;
            SELECT setval('concerts_id_seq', greatest((SELECT max(id) FROM concerts), 100));
            ALTER TABLE concerts ALTER COLUMN id SET DEFAULT nextval('concerts_id_seq');
            """),
    ]
}
