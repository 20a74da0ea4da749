// Hot seat: USERS users race for the same seat at the same instant.
//
// setup() takes USERS queue tokens (one random user each) for one concert,
// waits until every one of them is ACTIVE, and picks one bookable date and
// one AVAILABLE seat on it (DATE / SEAT override). Then every VU sends exactly
// one POST /v1/reservations for that seat, all released at the same moment.
// Exactly one must get 201; all the others 409 SEAT_UNAVAILABLE; no 5xx.
// teardown() checks the seat now shows as HELD.
//
// Server settings: all USERS tokens must be ACTIVE at once, so run the stack
// with an active capacity of at least USERS and a fast admission rate, e.g.
//   ACTIVE_CAPACITY=2000 ADMIT_PER_SECOND=1000 make run
// otherwise setup() fails after SETUP_WAIT_SECONDS with "not all tokens ACTIVE".
// Each run consumes one seat (it stays HELD until the hold lapses).
//
// Run:   k6 run -e BASE_URL=http://127.0.0.1:8080 -e USERS=1000 k6/hot-seat.js
//
// Environment (all optional):
//   BASE_URL (http://127.0.0.1:8080), CONCERT_ID (first listed concert),
//   USERS (1000)               racing users (= VUs, one iteration each)
//   DATE, SEAT                 force the date / seat number
//   SETUP_WAIT_SECONDS (120)   bound on waiting for all tokens to be ACTIVE
//   SETUP_TIMEOUT (300s)       k6 setup timeout
//   START_DELAY_MS (1000)      all VUs fire at setup end + this delay
//   BATCH_SIZE (100)           parallel requests per batch in setup
//   P99_MS (3000)              p99 bound for POST /v1/reservations

import http from 'k6/http';
import exec from 'k6/execution';
import { check, sleep, fail } from 'k6';
import { Counter } from 'k6/metrics';
import {
  BASE_URL, envInt, jsonBody, problemCode, isServerError, requireReady, pickConcertId, takeTokens,
  params, authHeaders, track, pickConcertAndDate, seatMap, availableSeats, randomItem, holdSeats, p99,
} from './lib.js';

http.setResponseCallback(http.expectedStatuses({ min: 200, max: 499 }));

const USERS = envInt('USERS', 1000);
const SETUP_WAIT_SECONDS = envInt('SETUP_WAIT_SECONDS', 120);
const START_DELAY_MS = envInt('START_DELAY_MS', 1000);

const wins = new Counter('wins');
const seatConflicts = new Counter('seat_conflicts');
const unexpected = new Counter('unexpected_answers');

export const options = {
  scenarios: {
    race: {
      executor: 'per-vu-iterations',
      vus: USERS,
      iterations: 1,
      maxDuration: __ENV.DURATION || '2m',
    },
  },
  thresholds: {
    wins: ['count==1'],
    seat_conflicts: [`count==${USERS - 1}`],
    unexpected_answers: ['count==0'],
    server_errors: ['count==0'],
    checks: ['rate==1'],
    'http_req_duration{name:POST /v1/reservations}': [p99('P99_MS', 3000)],
  },
  setupTimeout: __ENV.SETUP_TIMEOUT || '300s',
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

// Poll every token not yet ACTIVE (in parallel batches) until all are ACTIVE.
function waitAllActive(tokens) {
  const size = envInt('BATCH_SIZE', 100);
  const deadline = Date.now() + SETUP_WAIT_SECONDS * 1000;
  let pending = tokens.filter((t) => t.status !== 'ACTIVE').map((t) => t.token);
  while (pending.length > 0) {
    if (Date.now() > deadline) {
      fail(
        `not all tokens ACTIVE after ${SETUP_WAIT_SECONDS}s (${pending.length}/${tokens.length} still waiting); ` +
          `run the server with ACTIVE_CAPACITY >= USERS and a high ADMIT_PER_SECOND`,
      );
    }
    let pollAfter = 1;
    const still = [];
    for (let i = 0; i < pending.length; i += size) {
      const chunk = pending.slice(i, i + size);
      const responses = http.batch(
        chunk.map((tok) => ['GET', `${BASE_URL}/v1/queue/status`, null, params('GET /v1/queue/status', authHeaders(tok))]),
      );
      responses.forEach((res, k) => {
        track(res);
        const s = res.status === 200 ? jsonBody(res) : null;
        if (!s && !isServerError(res)) fail(`GET /v1/queue/status answered ${res.status} ${res.body}`);
        if (!s || s.status !== 'ACTIVE') {
          still.push(chunk[k]);
          if (s && s.pollAfterSeconds > 0) pollAfter = Math.min(Math.max(pollAfter, s.pollAfterSeconds), 5);
        }
      });
    }
    pending = still;
    if (pending.length > 0) {
      console.log(`setup: ${tokens.length - pending.length}/${tokens.length} ACTIVE, polling again in ${pollAfter}s`);
      sleep(pollAfter);
    }
  }
}

export function setup() {
  requireReady();
  const concertId = pickConcertId();
  const statuses = takeTokens(concertId, USERS);
  const tokens = statuses.map((s) => ({ token: s.token, status: s.status }));
  if (new Set(tokens.map((t) => t.token)).size !== USERS) fail('duplicate tokens for distinct users');
  waitAllActive(tokens);

  const probe = tokens[0].token;
  const pick = pickConcertAndDate(probe, concertId);
  if (!pick.date) fail(`no bookable date for concert ${concertId} (GET dates answered ${pick.res.status})`);
  let seat;
  if (__ENV.SEAT) {
    seat = envInt('SEAT', 1);
  } else {
    const { res, seats } = seatMap(probe, concertId, pick.date);
    const free = availableSeats(seats);
    if (res.status !== 200 || free.length === 0) {
      fail(`no AVAILABLE seat on ${pick.date} (GET seats answered ${res.status})`);
    }
    seat = randomItem(free).number;
  }
  console.log(`setup: ${USERS} ACTIVE users race for concert ${concertId}, ${pick.date}, seat ${seat}`);
  return {
    concertId,
    date: pick.date,
    seat,
    tokens: tokens.map((t) => t.token),
    startAt: Date.now() + START_DELAY_MS,
  };
}

export default function (data) {
  // Make the counters exist even when nobody wins, so the thresholds bite.
  wins.add(0);
  seatConflicts.add(0);
  unexpected.add(0);

  const token = data.tokens[(exec.vu.idInTest - 1) % data.tokens.length];
  const wait = data.startAt - Date.now();
  if (wait > 0) sleep(wait / 1000);

  const res = holdSeats(token, data.concertId, data.date, [data.seat]);
  const code = problemCode(res);
  if (res.status === 201) {
    wins.add(1);
    const r = jsonBody(res);
    check(r, {
      'winner holds the seat': (x) =>
        x && x.status === 'HELD' && Array.isArray(x.seatNumbers) && x.seatNumbers.length === 1 && x.seatNumbers[0] === data.seat,
    });
    console.log(`winner: VU ${exec.vu.idInTest}, reservation ${r && r.reservationId}, instance ${res.headers['X-Instance-Id']}`);
  } else if (res.status === 409 && code === 'SEAT_UNAVAILABLE') {
    seatConflicts.add(1);
  } else if (!isServerError(res)) {
    unexpected.add(1);
    console.warn(`unexpected answer: ${res.status} ${code} ${String(res.body).slice(0, 200)}`);
  }
  check(res, { '201 or 409 SEAT_UNAVAILABLE': () => res.status === 201 || (res.status === 409 && code === 'SEAT_UNAVAILABLE') });
}

export function teardown(data) {
  // The seat must now be HELD (or SOLD if someone paid meanwhile). The winner's
  // token is still ACTIVE; any token still ACTIVE can read the seat map.
  for (const token of data.tokens.slice(0, 5)) {
    const { res, seats } = seatMap(token, data.concertId, data.date);
    if (res.status !== 200) continue;
    const s = seats.find((x) => x.number === data.seat);
    check(s, { 'raced seat is HELD after the race': (x) => x && (x.status === 'HELD' || x.status === 'SOLD') });
    return;
  }
  console.warn('teardown: could not read the seat map to confirm the seat is HELD');
}

export function handleSummary(data) {
  const m = data.metrics;
  const count = (name) => (m[name] && m[name].values ? m[name].values.count || 0 : 0);
  const w = count('wins');
  const c = count('seat_conflicts');
  const e = count('server_errors');
  const u = count('unexpected_answers');
  const dur = m['http_req_duration{name:POST /v1/reservations}'];
  const ok = w === 1 && c === USERS - 1 && e === 0 && u === 0;
  const lines = [
    '',
    `hot-seat: ${USERS} users raced for one seat`,
    `  wins (201):                   ${w}   (want 1)`,
    `  conflicts (409 SEAT_UNAVAILABLE): ${c}   (want ${USERS - 1})`,
    `  server errors (5xx / no answer): ${e}   (want 0)`,
    `  other answers:                ${u}   (want 0)`,
    dur && dur.values ? `  POST /v1/reservations p(99): ${dur.values['p(99)'].toFixed(1)} ms, max ${dur.values.max.toFixed(1)} ms` : '',
    '',
    'thresholds:',
  ];
  for (const [name, metric] of Object.entries(m)) {
    if (!metric.thresholds) continue;
    for (const [expr, res] of Object.entries(metric.thresholds)) {
      lines.push(`  ${res.ok ? 'ok  ' : 'FAIL'} ${name}: ${expr}`);
    }
  }
  lines.push('', ok ? 'VERDICT: PASS (exactly one winner)' : 'VERDICT: FAIL', '');
  const out = { stdout: lines.join('\n') };
  if (__ENV.SUMMARY_JSON) out[__ENV.SUMMARY_JSON] = JSON.stringify(data, null, 2);
  return out;
}
