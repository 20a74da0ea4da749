-- The SQL of one payment as the app sends it (PostgresPaymentStore.pay with an Idempotency-Key:
-- the key claimed, one boxoffice_pay call (migration 7), the key's result stored), each time on a
-- distinct pre-held reservation from bench_pay_targets.
SELECT nextval('bench_pay_seq') AS n \gset
SELECT reservation_id AS rid, user_id AS uid FROM bench_pay_targets WHERE n = :n \gset
BEGIN;
INSERT INTO idempotency_keys (user_id, operation, key, fingerprint, result)
  VALUES (:uid::uuid, 'payment', 'pgbench-' || :n::text, 'reservationId=' || :rid::text, '') ON CONFLICT DO NOTHING;
SELECT outcome FROM boxoffice_pay(md5('p' || :n::text)::uuid, :rid::uuid, :uid::uuid, 'bench-token-' || :n::text, :concert + 1);
UPDATE idempotency_keys SET result = '{}' WHERE user_id = :uid::uuid AND operation = 'payment' AND key = 'pgbench-' || :n::text;
COMMIT;
