-- boxoffice_pay: a payment in one statement (autocommit), in the shared lock order: the
-- reservation, its seats by (date_id, number), then the balance. It also does the
-- Idempotency-Key's bookkeeping: the key is claimed first; a concurrent duplicate blocks on its
-- unique index until the first commits (then it gets REPLAY and the stored receipt) or gives the
-- key up (then it claims it); a refusal gives the key up, as a rollback did. The receipt is
-- returned as the JSON that is stored, so a first answer and its replays are the same bytes.
-- Outcomes: PAID, REPLAY, IDEMPOTENCY_KEY_REUSED, or the rule that refused it:
-- RESERVATION_NOT_FOUND, WRONG_CONCERT, HOLD_EXPIRED, RESERVATION_NOT_HELD, INSUFFICIENT_BALANCE.
-- A refusal writes nothing. The payment row keeps the queue token that paid, which a hold made
-- with that token afterwards finds (boxoffice_hold). A payment records its order.paid event.
CREATE OR REPLACE FUNCTION boxoffice_pay(
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
    PERFORM boxoffice_reservation_event('order.paid', p_reservation, jsonb_build_object(
        'paymentId', p_payment::text, 'paidAt', to_char(v_paid_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')));
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
