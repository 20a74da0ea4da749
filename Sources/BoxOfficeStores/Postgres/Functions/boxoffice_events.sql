-- boxoffice_outbox_on: false only in a session with `boxoffice.outbox = off`, which the benchmark
-- sets (ALTER DATABASE) to measure what the outbox costs in the same run; nothing else sets it.
CREATE OR REPLACE FUNCTION boxoffice_outbox_on() RETURNS BOOLEAN LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('boxoffice.outbox', true), '') <> 'off';
$$;

-- boxoffice_reservation_event: records an event of a reservation in the outbox, in the caller's
-- transaction, so the event exists exactly when the change commits (the transactional outbox).
-- The payload is the reservation as it was when the statement began, plus `p_extra` (a payment's
-- id and time). Types: reservation.held, reservation.cancelled, reservation.expired, order.paid.
-- PL/pgSQL, not SQL: a SQL function's body is planned again at every call from PL/pgSQL (as
-- boxoffice_hold and boxoffice_pay call it), 307-374 us a call against 59-67 us with the plan
-- PL/pgSQL keeps (psql, 2,000 calls; most of what the outbox cost a hold, Docs/benchmarks.md).
-- boxoffice_reservation_payload: a reservation event's payload, in one place (boxoffice_hold
-- builds its held event from its arguments with it; the others read the reservation back).
-- PL/pgSQL for the same reason as below: a SQL function with a sub-select is not inlined, and is
-- planned again at every call.
CREATE OR REPLACE FUNCTION boxoffice_reservation_payload(
    p_reservation UUID, p_user UUID, p_concert BIGINT, p_date DATE, p_seats INT[], p_amount BIGINT, p_expires TIMESTAMPTZ
) RETURNS JSONB LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object(
        'reservationId', p_reservation::text, 'userId', p_user::text, 'concertId', p_concert, 'date', p_date::text,
        'seatNumbers', (SELECT jsonb_agg(seat ORDER BY seat) FROM unnest(p_seats) AS seat),
        'amount', p_amount,
        'expiresAt', to_char(p_expires AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
END $$;

CREATE OR REPLACE FUNCTION boxoffice_reservation_event(p_type TEXT, p_reservation UUID, p_extra JSONB DEFAULT '{}'::jsonb)
RETURNS VOID LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_events (type, aggregate_id, payload)
    SELECT p_type, r.id::text, boxoffice_reservation_payload(
               r.id, r.user_id, r.concert_id, d.date,
               (SELECT array_agg(rs.seat_number) FROM reservation_seats rs WHERE rs.reservation_id = r.id),
               r.amount, r.expires_at) || p_extra
    FROM reservations r JOIN concert_dates d ON d.id = r.date_id
    WHERE r.id = p_reservation AND boxoffice_outbox_on();
END $$;

-- boxoffice_outbox_wake: notifies the relay (LISTEN boxoffice_outbox, EventRelayJob) of a new event,
-- only while it sleeps: a notifying commit holds a database-wide lock until it ends, which a
-- stream of sales must not queue on. While events keep coming the relay polls instead. A relay
-- that falls asleep just as an event commits can miss it; its safety-net poll finds it.
CREATE OR REPLACE FUNCTION boxoffice_outbox_wake() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT sleeping FROM outbox_relay WHERE id = 1) THEN
        PERFORM pg_notify('boxoffice_outbox', '');
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER outbox_events_wake AFTER INSERT ON outbox_events
    FOR EACH ROW EXECUTE FUNCTION boxoffice_outbox_wake();
