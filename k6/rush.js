// On-sale rush: USERS virtual users arrive at once. Each iteration is one new
// user (a random UUID) who
//   1. takes a queue token for the concert,
//   2. polls GET /v1/queue/status honouring pollAfterSeconds until ACTIVE
//      (bounded by MAX_WAIT_SECONDS),
//   3. lists the bookable dates and the seats of one date,
//   4. holds a random AVAILABLE seat (another one on 409 SEAT_UNAVAILABLE,
//      up to HOLD_ATTEMPTS times; stops quietly when nothing is left),
//   5. charges the reservation amount with an Idempotency-Key,
//   6. pays with an Idempotency-Key (and, for REPLAY_RATIO of the users,
//      replays the charge and the payment with the same keys and checks the
//      first answer comes back and no money moves twice).
//
// Run:   k6 run -e BASE_URL=http://127.0.0.1:8080 k6/rush.js
// Server: the queue must admit the users within MAX_WAIT_SECONDS, e.g.
//   ACTIVE_CAPACITY=2000 ADMIT_PER_SECOND=1000 make run
// With a smaller capacity users wait longer; those not admitted within the
// bound are counted in `not_admitted` (not a failure unless NOT_ADMITTED_MAX is set).
//
// Environment (all optional):
//   BASE_URL (http://127.0.0.1:8080), CONCERT_ID (first listed concert),
//   USERS (200)            virtual users arriving at once
//   ITERATIONS (1)         users per VU, one after the other
//   DURATION (10m)         hard stop for the scenario (maxDuration)
//   MAX_WAIT_SECONDS (120) bound on waiting in the queue
//   HOLD_ATTEMPTS (5)      seats tried per user before giving up
//   SEATS_PER_USER (1)     seats per reservation (1..4)
//   REPLAY_RATIO (0.1)     share of users who replay charge and payment
//   P99_MS (2000)          p99 bound for the booking calls
//   P99_STATUS_MS (500)    p99 bound for GET /v1/queue/status
//   NOT_ADMITTED_MAX (-1)  fail if more users than this are never admitted (-1: no bound)
//
// Thresholds fail the run on any 5xx/no answer, on unexpected 4xx (checks),
// and on slow answers. 4xx business answers (409 SEAT_UNAVAILABLE, ...) are
// expected and do not count in http_req_failed.

import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import {
  envInt, envFloat, uuidv4, jsonBody, problemCode, isServerError, requireReady, pickConcertId,
  takeToken, waitUntilActive, pickConcertAndDate, seatMap, availableSeats, shuffle,
  holdSeats, charge, pay, getBalance, p99,
} from './lib.js';

http.setResponseCallback(http.expectedStatuses({ min: 200, max: 499 }));

const USERS = envInt('USERS', 200);
const HOLD_ATTEMPTS = envInt('HOLD_ATTEMPTS', 5);
const SEATS_PER_USER = envInt('SEATS_PER_USER', 1);
const REPLAY_RATIO = envFloat('REPLAY_RATIO', 0.1);
const NOT_ADMITTED_MAX = envInt('NOT_ADMITTED_MAX', -1);

const tokensTaken = new Counter('tokens_taken');
const admitted = new Counter('admitted');
const notAdmitted = new Counter('not_admitted');
const holds = new Counter('holds');
const seatConflicts = new Counter('seat_conflicts');
const soldOut = new Counter('sold_out');
const holdGaveUp = new Counter('hold_gave_up');
const charges = new Counter('charges');
const payments = new Counter('payments');
const holdExpired = new Counter('hold_expired');
const replayMismatches = new Counter('replay_mismatches');
const unexpected = new Counter('unexpected_answers');
const queueWait = new Trend('queue_wait_seconds');
const journey = new Trend('journey_seconds_after_admission');

const thresholds = {
  server_errors: ['count==0'],
  http_req_failed: ['rate<0.01'],
  checks: ['rate>0.99'],
  unexpected_answers: ['count==0'],
  replay_mismatches: ['count==0'],
  'http_req_duration{name:GET /v1/queue/status}': [p99('P99_STATUS_MS', 500)],
  'http_req_duration{name:POST /v1/queue/tokens}': [p99('P99_MS', 2000)],
  'http_req_duration{name:GET /v1/concerts/{id}/dates}': [p99('P99_MS', 2000)],
  'http_req_duration{name:GET /v1/concerts/{id}/dates/{date}/seats}': [p99('P99_MS', 2000)],
  'http_req_duration{name:POST /v1/reservations}': [p99('P99_MS', 2000)],
  'http_req_duration{name:POST /v1/balance/charge}': [p99('P99_MS', 2000)],
  'http_req_duration{name:POST /v1/payments}': [p99('P99_MS', 2000)],
};
if (NOT_ADMITTED_MAX >= 0) thresholds.not_admitted = [`count<=${NOT_ADMITTED_MAX}`];

export const options = {
  scenarios: {
    rush: {
      executor: 'per-vu-iterations',
      vus: USERS,
      iterations: envInt('ITERATIONS', 1),
      maxDuration: __ENV.DURATION || '10m',
    },
  },
  thresholds,
  setupTimeout: __ENV.SETUP_TIMEOUT || '60s',
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function setup() {
  requireReady();
  return { concertId: pickConcertId() };
}

function expectOk(res, name, okStatuses) {
  const ok = okStatuses.includes(res.status);
  check(res, { [`${name} ${okStatuses.join('/')}`]: () => ok });
  if (!ok && !isServerError(res)) {
    unexpected.add(1);
    console.warn(`${name}: unexpected ${res.status} ${problemCode(res) || ''} ${String(res.body).slice(0, 200)}`);
  }
  return ok;
}

// Try to hold seats on one date; returns the reservation, 'SOLD_OUT' or null.
function holdSomething(token, concertId) {
  for (let attempt = 0; attempt < HOLD_ATTEMPTS; ) {
    const pick = pickConcertAndDate(token, concertId);
    if (!expectOk(pick.res, 'GET dates', [200])) return null;
    if (!pick.date) return 'SOLD_OUT';

    const { res: seatsRes, seats } = seatMap(token, concertId, pick.date);
    // A date may sell out (DATE_NOT_FOUND is not expected; 200 is).
    if (!expectOk(seatsRes, 'GET seats', [200])) return null;
    check(seats, { 'seat map has 50 seats': (s) => s.length === 50 });

    const candidates = shuffle(availableSeats(seats).map((s) => s.number));
    if (candidates.length === 0) {
      attempt++;
      continue; // this date filled up meanwhile: pick a date again
    }
    // Try a few seats from this seat map before refreshing it.
    while (candidates.length >= SEATS_PER_USER && attempt < HOLD_ATTEMPTS) {
      attempt++;
      const wanted = candidates.splice(0, SEATS_PER_USER).sort((a, b) => a - b);
      const res = holdSeats(token, concertId, pick.date, wanted);
      if (res.status === 201) {
        const r = jsonBody(res);
        check(r, {
          'hold is HELD': (x) => x && x.status === 'HELD',
          'hold has the seats': (x) => x && Array.isArray(x.seatNumbers) && JSON.stringify(x.seatNumbers.slice().sort((a, b) => a - b)) === JSON.stringify(wanted),
          'hold amount > 0': (x) => x && Number.isInteger(x.amount) && x.amount > 0,
        });
        return r;
      }
      if (res.status === 409 && problemCode(res) === 'SEAT_UNAVAILABLE') {
        seatConflicts.add(1);
        check(res, { 'hold 201/409 SEAT_UNAVAILABLE': () => true });
        continue;
      }
      expectOk(res, 'POST reservations', [201]);
      return null;
    }
  }
  holdGaveUp.add(1);
  return null;
}

export default function (data) {
  const concertId = data.concertId;
  const userId = uuidv4();

  // 1. Queue token.
  const t0 = Date.now();
  const { res: tokRes, status: first } = takeToken(concertId, userId);
  if (!expectOk(tokRes, 'POST queue/tokens', [201])) return;
  tokensTaken.add(1);
  check(first, {
    'token status shape': (s) => s && typeof s.token === 'string' && s.userId === userId && s.concertId === concertId,
    'token WAITING or ACTIVE': (s) => s && (s.status === 'WAITING' || s.status === 'ACTIVE'),
  });
  if (!first || typeof first.token !== 'string') return;
  const token = first.token;

  // 2. Wait in line.
  let active = first.status === 'ACTIVE' ? first : null;
  if (!active) {
    const w = waitUntilActive(token);
    if (!w.status) {
      if (w.reason === 'TIMEOUT') {
        notAdmitted.add(1);
      } else if (!isServerError(w.res)) {
        expectOk(w.res, 'GET queue/status', [200]);
      }
      return;
    }
    active = w.status;
  }
  admitted.add(1);
  queueWait.add((Date.now() - t0) / 1000);
  check(active, { 'ACTIVE has activeUntil': (s) => !!s.activeUntil && s.position === null });
  const t1 = Date.now();

  // 3-4. Dates, seats, hold.
  const reservation = holdSomething(token, concertId);
  if (reservation === 'SOLD_OUT') {
    soldOut.add(1);
    return;
  }
  if (!reservation) return;
  holds.add(1);

  // 5. Charge exactly the amount (a fresh user has balance 0).
  const chargeKey = uuidv4();
  const chRes = charge(token, reservation.amount, chargeKey);
  if (!expectOk(chRes, 'POST balance/charge', [200])) return;
  charges.add(1);
  const ch = jsonBody(chRes);
  check(ch, { 'charge credited': (c) => c && c.charged === reservation.amount && c.balance === reservation.amount });

  const replay = Math.random() < REPLAY_RATIO;
  if (replay) {
    const again = charge(token, reservation.amount, chargeKey);
    const a = jsonBody(again) || {};
    const same = again.status === 200 && ch && a.charged === ch.charged && a.balance === ch.balance;
    if (!check(again, { 'charge replay returns the first answer': () => same })) replayMismatches.add(1);
    const bal = jsonBody(getBalance(token));
    if (!check(bal, { 'replayed charge moved no money': (b) => b && b.balance === reservation.amount })) {
      replayMismatches.add(1);
    }
  }

  // 6. Pay.
  const payKey = uuidv4();
  const payRes = pay(token, reservation.reservationId, payKey);
  if (payRes.status === 410 && problemCode(payRes) === 'HOLD_EXPIRED') {
    holdExpired.add(1); // slow run: the hold lapsed. Not a server fault.
    return;
  }
  if (!expectOk(payRes, 'POST payments', [201])) return;
  payments.add(1);
  const p = jsonBody(payRes);
  check(p, {
    'payment PAID': (x) => x && x.status === 'PAID' && x.reservationId === reservation.reservationId,
    'payment amount': (x) => x && x.amount === reservation.amount && x.balance === 0,
  });

  if (replay) {
    // The token has ended; a replay with the same key still gets the first 201.
    const again = pay(token, reservation.reservationId, payKey);
    const a = jsonBody(again) || {};
    const same = again.status === 201 && p && a.paymentId === p.paymentId && a.amount === p.amount && a.paidAt === p.paidAt;
    if (!check(again, { 'payment replay returns the first answer': () => same })) replayMismatches.add(1);
  }
  journey.add((Date.now() - t1) / 1000);
  sleep(0.1);
}
