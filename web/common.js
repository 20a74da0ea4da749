// Shared by the fan's and the operator's page: calls to the API, and its problem+json errors
// turned into sentences a person understands.
"use strict";

class ApiError extends Error {
  constructor(status, code, detail, retryAfter) {
    super(detail || code);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

const MESSAGES = {
  SEAT_UNAVAILABLE: "Sorry, someone else has just taken one of those seats. Please choose others.",
  HOLD_LIMIT: "You already hold seats for this concert. Pay for them or release them first.",
  PROOF_REQUIRED: "This sale asks your browser for a short check before you join; please try again.",
  PROOF_INVALID: "The check before joining did not go through; please try again.",
  PROOF_WORKER: "Your browser could not run the check before joining (are scripts blocked?).",
  PRESALE_CODE_REQUIRED: "The presale is on: only fans drawn in the presale can join now. Enter your presale code.",
  PRESALE_CODE_INVALID: "That presale code is not yours, or the presale is not on.",
  PRESALE_NOT_FOUND: "This concert has no presale.",
  PRESALE_EXISTS: "This concert has a presale already.",
  REGISTRATION_CLOSED: "Registration for this presale has closed.",
  REGISTRATION_OPEN: "Registration is still open: the draw runs after it closes.",
  ALREADY_DRAWN: "The draw has been run already.",
  TICKET_LIMIT: "That would be more tickets than one fan may buy for this concert, counting the seats you hold or have bought.",
  INVALID_SEAT: "Please choose between 1 and {max} free seats.",
  HOLD_EXPIRED: "Your hold ran out and the seats went back on sale. Please choose seats again.",
  INSUFFICIENT_BALANCE: "Your balance is too low for these seats. Add money, then pay again.",
  INVALID_AMOUNT: "Please enter a whole amount greater than zero (at most 10,000,000).",
  BALANCE_LIMIT: "That would take your balance over its limit. Please add a smaller amount.",
  TOKEN_EXPIRED: "Your turn has ended. Join the queue again to continue.",
  TOKEN_INVALID: "Your place in line is no longer valid. Join the queue again to continue.",
  NOT_ADMITTED: "It is not your turn yet. Please wait until the queue lets you in.",
  WRONG_CONCERT: "This turn is for another concert. Join that concert's queue.",
  QUEUE_FULL: "The queue is full right now. Please try again in {retry}.",
  SOLD_OUT: "Sorry, this concert is sold out.",
  RATE_LIMITED: "Too many attempts from your connection. Please try again in {retry}.",
  SERVICE_UNAVAILABLE: "The box office is very busy. Please try again in {retry}.",
  RESERVATION_NOT_HELD: "These seats are no longer held (paid or released already).",
  RESERVATION_NOT_FOUND: "That hold could not be found.",
  DATE_NOT_FOUND: "That date is no longer on sale.",
  CONCERT_NOT_FOUND: "That concert is no longer on sale.",
  ADMIN_UNAUTHORIZED: "That admin token is not right.",
  ADMIN_DISABLED: "The admin API is switched off on this server (no ADMIN_TOKEN).",
  DATE_EXISTS: "That date already exists for this concert.",
  STREAM_REPLACED: "Your place in line is being followed in another tab or window. Please continue there.",
  NETWORK: "The connection to the box office failed. Please check your network and try again.",
};

// The instance's MAX_SEATS_PER_RESERVATION, filled into the fan's page.
const maxSeats = Number(document.querySelector('meta[name="max-seats"]')?.content) || 4;

function sentence(error) {
  if (!(error instanceof ApiError)) return "Something went wrong. Please try again.";
  const retry = error.retryAfter ? `${error.retryAfter} s` : "a few seconds";
  const template = MESSAGES[error.code];
  if (template) return template.replace("{retry}", retry).replace("{max}", String(maxSeats));
  if (error.status === 400 && error.detail) return error.detail;
  return "Something went wrong. Please try again.";
}

// The server's clock as far as its Date header tells (whole seconds): countdowns to expiresAt,
// activeUntil and opensAt follow the server, also on a phone whose clock is off. Offsets under
// two seconds are taken as the header's rounding, not as a wrong clock.
let serverOffset = 0;
const serverNow = () => Date.now() + serverOffset;

async function api(method, path, body, { token, idempotencyKey } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers["Authorization"] = "Bearer " + token;
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "NETWORK");
  }
  const serverDate = Date.parse(response.headers.get("Date") || "");
  if (!Number.isNaN(serverDate)) {
    const offset = serverDate + 500 - Date.now();
    serverOffset = Math.abs(offset) > 2000 ? offset : 0;
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (!response.ok) {
    throw new ApiError(response.status, json?.code || `HTTP_${response.status}`, json?.detail, response.headers.get("Retry-After"));
  }
  return json;
}

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

// The page's error box (data-testid="error-message"): an ApiError as a sentence, or a sentence.
function showError(error) {
  const box = byTestId("error-message");
  box.textContent = typeof error === "string" ? error : sentence(error);
  box.classList.remove("hidden");
}
function clearError() { byTestId("error-message").classList.add("hidden"); }
const won = (amount) => `₩${Number(amount).toLocaleString("en-US")}`;

function duration(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(s).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

// A style goes through the CSSOM (node.style), which the pages' Content-Security-Policy allows;
// a style attribute (setAttribute) it blocks.
function element(tag, attributes = {}, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "style") node.style.cssText = value;
    else node.setAttribute(key, value);
  }
  if (text !== undefined) node.textContent = text;
  return node;
}
