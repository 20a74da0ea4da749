-- boxoffice_hold: a hold in one statement (autocommit), the rules and the lock order that
-- PostgresReservationStore documents, in this order: the user's own reservations, then seats by
-- number (ascending seats of one date). Returns HELD (with amount and end), or the rule that
-- refused it: DATE_NOT_FOUND, TOKEN_EXPIRED, HOLD_LIMIT, TICKET_LIMIT, SEAT_UNAVAILABLE. A refusal
-- writes nothing but the expiry of the user's own lapsed hold (and its event), which is true either
-- way. A hold records its reservation.held event (boxoffice_events.sql).
-- p_max_tickets: the concert's maxTicketsPerUser (0: no cap); defaulted so that an instance of
-- the release before it keeps working during a rolling upgrade.
CREATE OR REPLACE FUNCTION boxoffice_hold(
    p_reservation UUID, p_user UUID, p_token TEXT, p_concert BIGINT, p_date DATE, p_seats INT[], p_hold_seconds INT,
    p_max_tickets INT DEFAULT 0
) RETURNS TABLE (outcome TEXT, held_amount BIGINT, held_until TIMESTAMPTZ)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_date_id BIGINT;
    v_blocker TEXT;
    v_found INT;
    v_free INT;
    v_prices BIGINT[];
    v_amount BIGINT;
    v_expires TIMESTAMPTZ;
    v_lapsed UUID;
BEGIN
    SELECT id INTO v_date_id FROM concert_dates WHERE concert_id = p_concert AND date = p_date AND date >= current_date;
    IF v_date_id IS NULL THEN
        RETURN QUERY SELECT 'DATE_NOT_FOUND', NULL::BIGINT, NULL::TIMESTAMPTZ; RETURN;
    END IF;

    -- The user's own lapsed hold no longer counts against HOLD_LIMIT (and its expiry is an event).
    FOR v_lapsed IN
        UPDATE reservations SET status = 'EXPIRED', updated_at = now()
        WHERE user_id = p_user AND concert_id = p_concert AND status = 'HELD' AND expires_at <= now()
        RETURNING id
    LOOP
        PERFORM boxoffice_reservation_event('reservation.expired', v_lapsed);
    END LOOP;
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

    -- TICKET_LIMIT: the user's seats of this concert, held or bought, plus these. Race-free with
    -- HOLD_LIMIT: a user has at most one HELD reservation per concert (a unique index), so a
    -- concurrent hold of the same user cannot also pass; a payment that commits meanwhile turned
    -- the user's hold CONFIRMED, which this later statement counts.
    IF p_max_tickets > 0 AND cardinality(p_seats) + (
        SELECT count(*) FROM reservations r JOIN reservation_seats rs ON rs.reservation_id = r.id
        WHERE r.user_id = p_user AND r.concert_id = p_concert
          AND (r.status = 'CONFIRMED' OR (r.status = 'HELD' AND r.expires_at > now()))
    ) > p_max_tickets THEN
        RETURN QUERY SELECT 'TICKET_LIMIT', NULL::BIGINT, NULL::TIMESTAMPTZ; RETURN;
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

    v_amount := (SELECT sum(x) FROM unnest(v_prices) AS x);
    INSERT INTO reservations (id, user_id, concert_id, date_id, amount, status, expires_at)
    -- To the millisecond, the precision every time of the API and the events is written with: the
    -- hold's answer and its events then state the same expiry.
    VALUES (p_reservation, p_user, p_concert, v_date_id, v_amount, 'HELD',
            date_trunc('milliseconds', now() + make_interval(secs => p_hold_seconds)))
    RETURNING expires_at INTO v_expires;
    INSERT INTO reservation_seats (reservation_id, date_id, seat_number, price)
    SELECT p_reservation, v_date_id, seat, price FROM unnest(p_seats, v_prices) AS s(seat, price);
    UPDATE seats SET status = 'HELD', held_until = v_expires, reservation_id = p_reservation
    WHERE date_id = v_date_id AND number = ANY(p_seats);
    -- The held event from what this function has at hand: the same payload as
    -- boxoffice_reservation_event's, without reading back the three rows just written.
    IF boxoffice_outbox_on() THEN
        INSERT INTO outbox_events (type, aggregate_id, payload)
        VALUES ('reservation.held', p_reservation::text, boxoffice_reservation_payload(
            p_reservation, p_user, p_concert, p_date, p_seats, v_amount, v_expires));
    END IF;
    RETURN QUERY SELECT 'HELD', v_amount, v_expires;
END
$$;
