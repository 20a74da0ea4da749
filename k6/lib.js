// Shared helpers for the BoxOffice k6 scripts. No remote imports: everything
// here is plain k6 (k6/http, k6/crypto, k6/metrics).
//
// Settings read from the environment (all optional):
//   BASE_URL            API base URL (default http://127.0.0.1:8080)
//   CONCERT_ID          concert to use (default: the first one from GET /v1/concerts)
//   MAX_WAIT_SECONDS    bound on waiting in the queue for ACTIVE (default 120)
//   REQUEST_TIMEOUT     per-request timeout (default 30s)
//   USER_ASSERTION_KEY  the instances' HS256 user-assertion secret: when set, every
//                       token request carries a JWT signed with it (sub = the user)

import http from 'k6/http';
import { sleep, fail } from 'k6';
import { randomBytes, hmac } from 'k6/crypto';
import encoding from 'k6/encoding';
import { Counter } from 'k6/metrics';

export const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
export const REQUEST_TIMEOUT = __ENV.REQUEST_TIMEOUT || '30s';

// 5xx answers and requests that got no answer at all (status 0: connection
// refused/reset, timeout). Every script has the threshold `server_errors: count==0`.
export const serverErrors = new Counter('server_errors');

// ---------------------------------------------------------------------------
// Environment helpers

export function envInt(name, def) {
  const v = __ENV[name];
  if (v === undefined || v === '') return def;
  const n = parseInt(v, 10);
  if (Number.isNaN(n)) fail(`${name} must be an integer, got ${JSON.stringify(v)}`);
  return n;
}

export function envFloat(name, def) {
  const v = __ENV[name];
  if (v === undefined || v === '') return def;
  const n = parseFloat(v);
  if (Number.isNaN(n)) fail(`${name} must be a number, got ${JSON.stringify(v)}`);
  return n;
}

export function envStr(name, def) {
  const v = __ENV[name];
  return v === undefined || v === '' ? def : v;
}

export function envBool(name, def) {
  const v = __ENV[name];
  if (v === undefined || v === '') return def;
  return ['1', 'true', 'yes', 'on'].includes(String(v).toLowerCase());
}

// ---------------------------------------------------------------------------
// Small utilities

const HEX = [];
for (let i = 0; i < 256; i++) HEX.push((i + 0x100).toString(16).slice(1));

// RFC 4122 version-4 UUID from k6's crypto-grade random bytes.
export function uuidv4() {
  const b = new Uint8Array(randomBytes(16));
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // variant 10xx
  return (
    HEX[b[0]] + HEX[b[1]] + HEX[b[2]] + HEX[b[3]] + '-' +
    HEX[b[4]] + HEX[b[5]] + '-' +
    HEX[b[6]] + HEX[b[7]] + '-' +
    HEX[b[8]] + HEX[b[9]] + '-' +
    HEX[b[10]] + HEX[b[11]] + HEX[b[12]] + HEX[b[13]] + HEX[b[14]] + HEX[b[15]]
  );
}

export function randomInt(maxExclusive) {
  return Math.floor(Math.random() * maxExclusive);
}

export function randomItem(arr) {
  return arr.length === 0 ? undefined : arr[randomInt(arr.length)];
}

export function shuffle(arr) {
  const a = arr.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

// ---------------------------------------------------------------------------
// Request parameters

export const JSON_HEADERS = {
  'Content-Type': 'application/json',
  Accept: 'application/json',
};

export function authHeaders(token, extra) {
  return Object.assign({}, JSON_HEADERS, { Authorization: `Bearer ${token}` }, extra || {});
}

// Params for http.* calls: headers, a stable `name` tag (so URLs with ids are
// grouped into one metric series) and the request timeout.
export function params(name, headers, extra) {
  return Object.assign(
    { headers: headers || JSON_HEADERS, tags: { name }, timeout: REQUEST_TIMEOUT },
    extra || {},
  );
}

// Parse a JSON body without throwing (problem+json included).
export function jsonBody(res) {
  if (!res || res.body === null || res.body === undefined || res.body === '') return null;
  try {
    return JSON.parse(res.body);
  } catch (e) {
    return null;
  }
}

// The problem+json `code` of an error answer, or null.
export function problemCode(res) {
  const b = jsonBody(res);
  return b && typeof b.code === 'string' ? b.code : null;
}

export function isServerError(res) {
  return !res || res.status === 0 || res.status >= 500;
}

// Count 5xx / no-answer responses. Returns the response for chaining.
export function track(res) {
  if (isServerError(res)) {
    serverErrors.add(1);
    if (envBool('LOG_SERVER_ERRORS', true)) {
      const rid = res && res.headers ? res.headers['X-Request-Id'] : undefined;
      const inst = res && res.headers ? res.headers['X-Instance-Id'] : undefined;
      console.warn(
        `server error: ${res ? res.request.method + ' ' + res.url : '?'} -> ` +
          `${res ? res.status : '?'} ${res && res.error ? res.error : ''} ` +
          `instance=${inst || '-'} request=${rid || '-'} body=${res && res.body ? String(res.body).slice(0, 200) : ''}`,
      );
    }
  } else {
    serverErrors.add(0);
  }
  return res;
}

// ---------------------------------------------------------------------------
// API calls. Each returns the k6 response; helpers that return data also
// return the response so callers can check it.

export function health() {
  return track(http.get(`${BASE_URL}/health/ready`, params('GET /health/ready')));
}

// Fail fast (in setup) when the stack is not there.
export function requireReady() {
  const res = http.get(`${BASE_URL}/health/ready`, params('GET /health/ready'));
  if (res.status !== 200) {
    fail(`${BASE_URL}/health/ready answered ${res.status} ${res.error || ''} ${res.body || ''}; is the stack running?`);
  }
  return jsonBody(res);
}

export function listConcerts() {
  const res = track(http.get(`${BASE_URL}/v1/concerts`, params('GET /v1/concerts')));
  const body = jsonBody(res);
  return { res, concerts: body && Array.isArray(body.concerts) ? body.concerts : [] };
}

// CONCERT_ID from the environment, else the first concert the API lists.
export function pickConcertId() {
  if (__ENV.CONCERT_ID) return envInt('CONCERT_ID', 1);
  const { res, concerts } = listConcerts();
  if (res.status !== 200 || concerts.length === 0) {
    fail(`GET /v1/concerts answered ${res.status} with ${concerts.length} concerts; set CONCERT_ID`);
  }
  return concerts[0].id;
}

// The site's signed word that the caller is `userId` (Docs/api.md, "Who is asking"), as an HS256
// JWT when USER_ASSERTION_KEY is set; {} in demo mode.
const USER_ASSERTION_KEY = __ENV.USER_ASSERTION_KEY || '';

export function userAssertionHeaders(userId) {
  if (!USER_ASSERTION_KEY) return {};
  const part = (object) => encoding.b64encode(JSON.stringify(object), 'rawurl');
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({
    sub: userId, aud: 'boxoffice', exp: Math.floor(Date.now() / 1000) + 600,
  })}`;
  return { Authorization: `Bearer ${unsigned}.${hmac('sha256', USER_ASSERTION_KEY, unsigned, 'base64rawurl')}` };
}

function tokenRequestParams(userId) {
  return params('POST /v1/queue/tokens', Object.assign({}, JSON_HEADERS, userAssertionHeaders(userId)));
}

// POST /v1/queue/tokens. Returns { res, status } where status is the queue
// status shape (or null on an error answer).
export function takeToken(concertId, userId) {
  const user = userId || uuidv4();
  const body = JSON.stringify({ userId: user, concertId });
  const res = track(http.post(`${BASE_URL}/v1/queue/tokens`, body, tokenRequestParams(user)));
  const status = res.status === 200 || res.status === 201 ? jsonBody(res) : null;
  return { res, status };
}

// Take many tokens quickly (setup helper) with http.batch in chunks.
// Returns an array of queue status objects; fails the test if any is refused.
export function takeTokens(concertId, count, chunk) {
  const size = chunk || envInt('BATCH_SIZE', 100);
  const out = [];
  for (let i = 0; i < count; i += size) {
    const reqs = [];
    for (let j = i; j < Math.min(count, i + size); j++) {
      const user = uuidv4();
      reqs.push([
        'POST',
        `${BASE_URL}/v1/queue/tokens`,
        JSON.stringify({ userId: user, concertId }),
        tokenRequestParams(user),
      ]);
    }
    for (const res of http.batch(reqs)) {
      track(res);
      if (res.status !== 201 && res.status !== 200) {
        fail(`POST /v1/queue/tokens answered ${res.status} ${res.body || res.error}`);
      }
      out.push(jsonBody(res));
    }
  }
  return out;
}

export function queueStatus(token) {
  const res = track(http.get(`${BASE_URL}/v1/queue/status`, params('GET /v1/queue/status', authHeaders(token))));
  return { res, status: res.status === 200 ? jsonBody(res) : null };
}

// Poll GET /v1/queue/status, sleeping pollAfterSeconds between polls, until
// the token is ACTIVE or maxWaitSeconds have passed. Returns the ACTIVE
// status, or null (timed out or the token was refused; `reason` says which).
export function waitUntilActive(token, maxWaitSeconds) {
  const bound = maxWaitSeconds === undefined ? envInt('MAX_WAIT_SECONDS', 120) : maxWaitSeconds;
  const deadline = Date.now() + bound * 1000;
  for (;;) {
    const { res, status } = queueStatus(token);
    if (status && status.status === 'ACTIVE') return { status, res, reason: null };
    if (!status) {
      // 5xx: back off a little and retry within the bound; 4xx: give up.
      if (!isServerError(res)) return { status: null, res, reason: problemCode(res) || `HTTP ${res.status}` };
    }
    const remaining = (deadline - Date.now()) / 1000;
    if (remaining <= 0) return { status: null, res, reason: 'TIMEOUT' };
    const pollAfter = status && status.pollAfterSeconds > 0 ? status.pollAfterSeconds : 1;
    sleep(Math.min(pollAfter, remaining));
  }
}

export function bookableDates(token, concertId) {
  const res = track(
    http.get(`${BASE_URL}/v1/concerts/${concertId}/dates`, params('GET /v1/concerts/{id}/dates', authHeaders(token))),
  );
  const body = res.status === 200 ? jsonBody(res) : null;
  return { res, dates: body && Array.isArray(body.dates) ? body.dates : [] };
}

export function seatMap(token, concertId, date) {
  const res = track(
    http.get(
      `${BASE_URL}/v1/concerts/${concertId}/dates/${date}/seats`,
      params('GET /v1/concerts/{id}/dates/{date}/seats', authHeaders(token)),
    ),
  );
  const body = res.status === 200 ? jsonBody(res) : null;
  return { res, seats: body && Array.isArray(body.seats) ? body.seats : [] };
}

export function availableSeats(seats) {
  return seats.filter((s) => s.status === 'AVAILABLE');
}

// A random bookable date of the concert (DATE from the environment wins).
// Returns { concertId, date, res } with date null when nothing is bookable.
export function pickConcertAndDate(token, concertId) {
  const { res, dates } = bookableDates(token, concertId);
  if (__ENV.DATE) return { concertId, date: __ENV.DATE, res };
  const open = dates.filter((d) => d.availableSeats > 0);
  const d = randomItem(open);
  return { concertId, date: d ? d.date : null, res };
}

export function holdSeats(token, concertId, date, seatNumbers, extraParams) {
  const body = JSON.stringify({ concertId, date, seatNumbers });
  return track(
    http.post(`${BASE_URL}/v1/reservations`, body, params('POST /v1/reservations', authHeaders(token), extraParams)),
  );
}

export function getReservation(token, reservationId) {
  return track(
    http.get(`${BASE_URL}/v1/reservations/${reservationId}`, params('GET /v1/reservations/{id}', authHeaders(token))),
  );
}

export function getBalance(token) {
  return track(http.get(`${BASE_URL}/v1/balance`, params('GET /v1/balance', authHeaders(token))));
}

export function charge(token, amount, idempotencyKey) {
  const extra = idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {};
  return track(
    http.post(
      `${BASE_URL}/v1/balance/charge`,
      JSON.stringify({ amount }),
      params('POST /v1/balance/charge', authHeaders(token, extra)),
    ),
  );
}

export function pay(token, reservationId, idempotencyKey) {
  const extra = idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {};
  return track(
    http.post(
      `${BASE_URL}/v1/payments`,
      JSON.stringify({ reservationId }),
      params('POST /v1/payments', authHeaders(token, extra)),
    ),
  );
}

// Threshold helpers: "p(99)<N" with N from the environment.
export function p99(envName, defMs) {
  return `p(99)<${envInt(envName, defMs)}`;
}
