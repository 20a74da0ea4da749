-- The SQL of one payment as the app sends it (PostgresPaymentStore.pay with an Idempotency-Key):
-- one boxoffice_pay call in autocommit (migration 8: it claims the key, pays and stores the
-- receipt), each time on a distinct pre-held reservation from bench_pay_targets.
SELECT nextval('bench_pay_seq') AS n \gset
SELECT reservation_id AS rid, user_id AS uid FROM bench_pay_targets WHERE n = :n \gset
SELECT outcome FROM boxoffice_pay(md5('p' || :n::text)::uuid, :rid::uuid, :uid::uuid, 'bench-token-' || :n::text, :concert + 1,
  'pgbench-' || :n::text, 'reservationId=' || :rid::text);
