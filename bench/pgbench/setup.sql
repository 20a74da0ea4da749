-- pgbench baseline data, in its own database: a concert for holds, and :targets held
-- reservations (one seat each) with funded balances for payments.
\i fixtures.sql
DROP SEQUENCE IF EXISTS bench_hold_seq; CREATE SEQUENCE bench_hold_seq START 0 MINVALUE 0;
DROP SEQUENCE IF EXISTS bench_pay_seq; CREATE SEQUENCE bench_pay_seq START 1;
DROP TABLE IF EXISTS bench_pay_targets;
CREATE TABLE bench_pay_targets (n INT PRIMARY KEY, reservation_id UUID NOT NULL, user_id UUID NOT NULL);
INSERT INTO concerts (id, title, artist) VALUES (:concert + 1, 'Bench payments', 'Bench') ON CONFLICT DO NOTHING;
INSERT INTO concert_dates (concert_id, date)
  SELECT :concert + 1, current_date + g FROM generate_series(1, (:targets + 49) / 50) AS g ON CONFLICT DO NOTHING;
INSERT INTO seats (date_id, number, price)
  SELECT d.id, n, 10000 FROM concert_dates d, generate_series(1, 50) AS n WHERE d.concert_id = :concert + 1 ON CONFLICT DO NOTHING;
INSERT INTO bench_pay_targets (n, reservation_id, user_id)
  SELECT g, md5('pay' || g)::uuid, md5('payuser' || g)::uuid FROM generate_series(1, :targets) AS g;
INSERT INTO reservations (id, user_id, concert_id, date_id, amount, status, expires_at)
  SELECT t.reservation_id, t.user_id, :concert + 1, d.id, 10000, 'HELD', now() + interval '1 hour'
  FROM bench_pay_targets t JOIN concert_dates d ON d.concert_id = :concert + 1 AND d.date = current_date + ((t.n - 1) / 50 + 1);
INSERT INTO reservation_seats (reservation_id, date_id, seat_number, price)
  SELECT r.id, r.date_id, (t.n - 1) % 50 + 1, 10000 FROM bench_pay_targets t JOIN reservations r ON r.id = t.reservation_id;
UPDATE seats s SET status = 'HELD', held_until = now() + interval '1 hour', reservation_id = rs.reservation_id
  FROM reservation_seats rs JOIN bench_pay_targets t ON t.reservation_id = rs.reservation_id
  WHERE s.date_id = rs.date_id AND s.number = rs.seat_number;
INSERT INTO balances (user_id, balance) SELECT user_id, 100000 FROM bench_pay_targets ON CONFLICT DO NOTHING;
INSERT INTO balance_ledger (user_id, type, amount, balance_after, reference)
  SELECT user_id, 'CHARGE', 100000, 100000, 'bench-setup' FROM bench_pay_targets;
-- Fresh bulk data: give the planner statistics before prepared statements pick their plans.
ANALYZE;
