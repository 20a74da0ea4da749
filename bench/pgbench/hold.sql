-- The SQL of one seat hold as the app sends it (PostgresReservationStore.hold without an
-- Idempotency-Key): one call of boxoffice_hold (migration 6) in autocommit, on a distinct seat
-- each time: seat n of the bench concert's dates (50 seats per date).
SELECT nextval('bench_hold_seq') AS n \gset
\set day (:n / 50) + 1
\set seat (:n % 50) + 1
SELECT outcome FROM boxoffice_hold(md5('r' || :n::text)::uuid, md5(:n::text)::uuid, 'bench-token-' || :n::text, :concert,
  current_date + :day::int, ARRAY[:seat::int], 600);
