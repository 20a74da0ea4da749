-- Bench data: run by bench.py with psql -v concert=ID -v dates=N.
INSERT INTO concerts (id, title, artist) VALUES (:concert, 'Bench concert', 'Bench') ON CONFLICT DO NOTHING;
INSERT INTO concert_dates (concert_id, date)
  SELECT :concert, current_date + g FROM generate_series(1, :dates) AS g ON CONFLICT DO NOTHING;
INSERT INTO seats (date_id, number, price)
  SELECT d.id, n, 10000 FROM concert_dates d, generate_series(1, 50) AS n
  WHERE d.concert_id = :concert ON CONFLICT DO NOTHING;
