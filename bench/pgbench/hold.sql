-- The SQL of one seat hold (ReservationService.holdTransaction), statement for statement, on a
-- distinct seat each time: seat n of the bench concert's dates (50 seats per date).
SELECT nextval('bench_hold_seq') AS n \gset
\set day (:n / 50) + 1
\set seat (:n % 50) + 1
BEGIN;
SELECT id AS date_id FROM concert_dates WHERE concert_id = :concert AND date = current_date + :day::int AND date >= current_date \gset
UPDATE reservations SET status = 'EXPIRED', updated_at = now()
  WHERE user_id = md5(:n::text)::uuid AND concert_id = :concert AND status = 'HELD' AND expires_at <= now();
SELECT 1 FROM reservations WHERE user_id = md5(:n::text)::uuid AND concert_id = :concert AND status = 'HELD';
SELECT number, price, status = 'AVAILABLE' OR (status = 'HELD' AND held_until <= now())
  FROM seats WHERE date_id = :date_id AND number = ANY(ARRAY[:seat::int]) ORDER BY number FOR UPDATE;
INSERT INTO reservations (id, user_id, concert_id, date_id, amount, status, expires_at)
  VALUES (md5('r' || :n::text)::uuid, md5(:n::text)::uuid, :concert, :date_id, 10000, 'HELD', now() + make_interval(secs => 600))
  RETURNING expires_at AS expires_at \gset
INSERT INTO reservation_seats (reservation_id, date_id, seat_number, price)
  SELECT md5('r' || :n::text)::uuid, :date_id, seat, price FROM unnest(ARRAY[:seat::int], ARRAY[10000]) AS s(seat, price);
UPDATE seats SET status = 'HELD', held_until = :expires_at::timestamptz, reservation_id = md5('r' || :n::text)::uuid
  WHERE date_id = :date_id AND number = ANY(ARRAY[:seat::int]);
COMMIT;
