-- The SQL of one payment (PostgresPaymentStore.pay with an Idempotency-Key), statement for
-- statement, each time on a distinct pre-held reservation from bench_pay_targets.
SELECT nextval('bench_pay_seq') AS n \gset
SELECT reservation_id AS rid, user_id AS uid FROM bench_pay_targets WHERE n = :n \gset
BEGIN;
INSERT INTO idempotency_keys (user_id, operation, key, fingerprint, result)
  VALUES (:uid::uuid, 'payment', 'pgbench-' || :n::text, 'reservationId=' || :rid::text, '') ON CONFLICT DO NOTHING;
SELECT user_id::text, concert_id, status, expires_at <= now(), amount,
       (SELECT count(*) FROM reservation_seats WHERE reservation_id = :rid::uuid)
  FROM reservations WHERE id = :rid::uuid FOR UPDATE;
SELECT number FROM seats WHERE reservation_id = :rid::uuid AND status = 'HELD' ORDER BY date_id, number FOR UPDATE;
SELECT balance AS bal FROM balances WHERE user_id = :uid::uuid FOR UPDATE \gset
\set after :bal - 10000
UPDATE balances SET balance = :after, updated_at = now() WHERE user_id = :uid::uuid;
INSERT INTO balance_ledger (user_id, type, amount, balance_after, reference)
  VALUES (:uid::uuid, 'PAYMENT', 10000, :after, 'payment:' || md5('p' || :n::text));
INSERT INTO payments (id, reservation_id, user_id, amount) VALUES (md5('p' || :n::text)::uuid, :rid::uuid, :uid::uuid, 10000) RETURNING paid_at;
UPDATE seats SET status = 'SOLD', held_until = NULL WHERE reservation_id = :rid::uuid AND status = 'HELD';
UPDATE reservations SET status = 'CONFIRMED', updated_at = now() WHERE id = :rid::uuid;
UPDATE idempotency_keys SET result = '{}' WHERE user_id = :uid::uuid AND operation = 'payment' AND key = 'pgbench-' || :n::text;
COMMIT;
