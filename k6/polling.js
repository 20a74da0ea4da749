// Queue status polling at a steady target rate: the load the sizing notes
// feared most (11,000 req/s at full scale). setup() takes TOKENS queue tokens
// for one concert; then a constant-arrival-rate scenario sends RATE
// GET /v1/queue/status per second for DURATION, each with a random token of
// the pool. Every answer must be 200 with the queue status shape.
//
// Server settings: any. Tokens may stay WAITING or become ACTIVE, both are
// fine; the active window must outlast the run (default hold/active time of
// minutes is plenty for DURATION=30s). A small ACTIVE_CAPACITY keeps most
// tokens WAITING, which exercises the position lookup, e.g.
//   ACTIVE_CAPACITY=50 ADMIT_PER_SECOND=10 make run
//
// Run:   k6 run -e BASE_URL=http://127.0.0.1:8080 -e RATE=1000 k6/polling.js
//
// Environment (all optional):
//   BASE_URL (http://127.0.0.1:8080), CONCERT_ID (1)
//   RATE (1000)            requests per second
//   DURATION (30s)
//   TOKENS (500)           size of the token pool
//   PRE_VUS (RATE/10, min 50), MAX_VUS (max(RATE, 200))
//   P99_MS (200)           p99 bound for GET /v1/queue/status
//   MAX_DROPPED_RATIO (0.01) share of the planned requests k6 may fail to start
//   BATCH_SIZE (100)       parallel token requests in setup

import { check } from 'k6';
import http from 'k6/http';
import { Counter } from 'k6/metrics';
import { BASE_URL, envInt, envFloat, envStr, jsonBody, requireReady, takeTokens, params, authHeaders, track, randomItem, p99 } from './lib.js';

const RATE = envInt('RATE', 1000);
const DURATION = envStr('DURATION', '30s');
const TOKENS = envInt('TOKENS', 500);
const CONCERT_ID = envInt('CONCERT_ID', 1);

// "30s", "1m30s", "2m", "500ms" -> seconds.
function seconds(d) {
  const str = String(d).trim();
  if (/^\d+(\.\d+)?$/.test(str)) return parseFloat(str);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 };
  let total = 0;
  let matched = '';
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let m;
  while ((m = re.exec(str)) !== null) {
    total += parseFloat(m[1]) * unit[m[2]];
    matched += m[0];
  }
  return matched === str && total > 0 ? total : 30;
}
const PLANNED = Math.round(RATE * seconds(DURATION));
const MAX_DROPPED = Math.floor(PLANNED * envFloat('MAX_DROPPED_RATIO', 0.01));

const waiting = new Counter('status_waiting');
const active = new Counter('status_active');

export const options = {
  scenarios: {
    polling: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: envInt('PRE_VUS', Math.max(50, Math.ceil(RATE / 10))),
      maxVUs: envInt('MAX_VUS', Math.max(RATE, 200)),
    },
  },
  thresholds: {
    // Every answer is expected to be 200 here: any 4xx or 5xx is a failure.
    'http_req_failed{name:GET /v1/queue/status}': ['rate<0.01'],
    server_errors: ['count==0'],
    checks: ['rate>0.99'],
    'http_req_duration{name:GET /v1/queue/status}': [p99('P99_MS', 200)],
    dropped_iterations: [`count<=${MAX_DROPPED}`],
  },
  setupTimeout: __ENV.SETUP_TIMEOUT || '120s',
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function setup() {
  requireReady();
  const statuses = takeTokens(CONCERT_ID, TOKENS);
  const a = statuses.filter((s) => s.status === 'ACTIVE').length;
  console.log(`setup: ${statuses.length} tokens for concert ${CONCERT_ID} (${a} ACTIVE, ${statuses.length - a} WAITING); ${RATE}/s for ${DURATION}`);
  return { tokens: statuses.map((s) => s.token) };
}

export default function (data) {
  const token = randomItem(data.tokens);
  const res = track(http.get(`${BASE_URL}/v1/queue/status`, params('GET /v1/queue/status', authHeaders(token))));
  const s = res.status === 200 ? jsonBody(res) : null;
  check(res, {
    'status 200': (r) => r.status === 200,
    'queue status shape': () =>
      s !== null &&
      s.token === token &&
      s.concertId === CONCERT_ID &&
      (s.status === 'ACTIVE'
        ? s.position === null && !!s.activeUntil
        : s.status === 'WAITING' && Number.isInteger(s.position) && s.position >= 1) &&
      Number.isInteger(s.pollAfterSeconds) && s.pollAfterSeconds >= 1,
  });
  if (s && s.status === 'ACTIVE') active.add(1);
  else if (s) waiting.add(1);
}
