// The fan's page: concerts -> the queue (polling at pollAfterSeconds; a live stream only near the
// front) -> dates and the seat map -> a hold with its countdown -> balance -> payment -> receipt.
// Only the public API.
"use strict";

// Waiting costs no connection: a fan far back polls (and holds no connection between polls); only
// a fan whose turn is due within STREAM_WITHIN_SECONDS opens the event stream, to learn the moment
// it is admitted. A refused stream (503: the instance serves its most streams) or a broken one falls
// back to polling, and the page does not ask for a stream again for STREAM_RETRY_SECONDS.
const STREAM_WITHIN_SECONDS = 30;
const STREAM_RETRY_SECONDS = 30;

const userId = localStorage.getItem("boxoffice.userId") || (() => {
  const id = uuid();
  localStorage.setItem("boxoffice.userId", id);
  return id;
})();

const state = {
  concertId: null, token: null, status: null, firstPosition: null, stream: null, pollTimer: null, clock: null, noStreamUntil: 0,
  date: null, seatButtons: new Map(), chosen: new Set(), seatTimer: null, hold: null, payKey: null,
};

function show(id, visible) { document.getElementById(id).classList.toggle("hidden", !visible); }

// --- Concerts -----------------------------------------------------------------------------------

async function loadConcerts() {
  const list = byTestId("concert-list");
  try {
    const { concerts } = await api("GET", "/v1/concerts");
    list.replaceChildren();
    for (const concert of concerts) {
      const button = element("button", { "data-testid": `concert-${concert.id}`, type: "button" });
      button.append(element("strong", {}, concert.title), element("br"), element("span", { class: "muted" }, concert.artist));
      button.addEventListener("click", () => selectConcert(concert.id, concert.title));
      const item = element("li");
      item.append(button);
      list.append(item);
    }
    if (!concerts.length) list.append(element("li", { class: "muted" }, "Nothing on sale right now."));
  } catch (error) {
    showError(error);
    setTimeout(loadConcerts, 5000);
  }
}

function selectConcert(id, title) {
  state.concertId = id;
  document.querySelectorAll("ul.concerts button").forEach((b) => b.classList.toggle("selected", b.dataset.testid === `concert-${id}`));
  byTestId("join-queue").disabled = false;
  document.getElementById("join-hint").textContent = title;
  document.getElementById("queue-title").textContent = `Your place in line for ${title}`;
  loadPresale(id);
}

// --- Presale ------------------------------------------------------------------------------------

// A concert's presale, if it has one: register while registration is open; after the draw, the
// fan's result and, for a winner, their code, which the join request then carries.
async function loadPresale(id) {
  const box = document.getElementById("presale");
  let presale;
  try {
    presale = await api("GET", `/v1/concerts/${id}/presale`);
  } catch (error) {
    box.classList.add("hidden");
    if (error.code !== "PRESALE_NOT_FOUND") showError(error);
    return;
  }
  if (state.concertId !== id) return;
  box.classList.remove("hidden");
  const status = byTestId("presale-status"), register = byTestId("presale-register");
  const open = Date.parse(presale.registrationClosesAt) > serverNow();
  const period = `The presale runs from ${new Date(presale.saleOpensAt).toLocaleString()} to ${new Date(presale.saleClosesAt).toLocaleString()}`;
  let entry = null;
  try {
    entry = await api("GET", `/v1/concerts/${id}/presale/registrations/${userId}`);
  } catch (error) {
    if (error.code !== "REGISTRATION_NOT_FOUND") return showError(error);
  }
  register.classList.toggle("hidden", !(open && !entry));
  box.dataset.entry = entry ? entry.status : "NONE";
  if (!entry) {
    status.textContent = open ? `${period}. Register before ${new Date(presale.registrationClosesAt).toLocaleString()} for a chance to join it: winners are drawn at random.`
      : `${period}, for the fans drawn among those who registered.`;
  } else if (entry.status === "REGISTERED") {
    status.textContent = `You are registered. ${period}; the draw runs after registration closes${open ? "" : ": check back soon"}.`;
  } else if (entry.status === "WON") {
    status.textContent = `You were drawn! ${period}. Your code is filled in below; it works only for you.`;
    byTestId("presale-code").value = entry.code;
  } else {
    status.textContent = `You were not drawn this time. The general sale follows the presale.`;
  }
}

async function registerForPresale() {
  clearError();
  try {
    await api("POST", `/v1/concerts/${state.concertId}/presale/registrations`, { userId });
  } catch (error) {
    showError(error);
  }
  loadPresale(state.concertId);
}

// A concert may ask for a proof of work before a place in line. The page asks without one first (a
// fan who already has a place gets it back at once), and on PROOF_REQUIRED or PROOF_INVALID (the
// operator raised the difficulty meanwhile) solves a fresh challenge and asks again.
async function takeToken() {
  const request = { userId, concertId: state.concertId };
  const code = byTestId("presale-code").value.trim();
  if (code) request.presaleCode = code;
  for (let attempt = 0; ; attempt++) {
    try {
      return await api("POST", "/v1/queue/tokens", request);
    } catch (error) {
      if (attempt === 2 || (error.code !== "PROOF_REQUIRED" && error.code !== "PROOF_INVALID")) throw error;
      request.proof = await solveChallenge(state.concertId);
    }
  }
}

// Solves the concert's challenge in a Web Worker, showing how far along the expected work it is.
async function solveChallenge(concertId) {
  const { challenge, difficulty } = await api("GET", `/v1/queue/challenge?concertId=${concertId}`);
  const line = byTestId("proof-progress");
  line.classList.remove("hidden");
  line.textContent = "Checking that you are a fan, not a script…";
  const expected = 2 ** difficulty;
  try {
    return await new Promise((resolve, reject) => {
      const worker = new Worker("/assets/pow-worker.js");
      worker.onerror = (event) => { worker.terminate(); reject(new ApiError(0, "PROOF_WORKER", event.message)); };
      worker.onmessage = ({ data }) => {
        if (data.nonce === undefined) {
          line.textContent = `Checking that you are a fan, not a script: ${Math.min(99, Math.floor((100 * data.tried) / expected))}%`;
          return;
        }
        worker.terminate();
        line.dataset.solvedMilliseconds = String(data.milliseconds);
        line.dataset.tried = String(data.tried);
        resolve({ challenge, nonce: data.nonce });
      };
      worker.postMessage({ challenge, difficulty });
    });
  } finally {
    line.classList.add("hidden");
  }
}

async function join() {
  clearError();
  byTestId("join-queue").disabled = true;
  try {
    const status = await takeToken();
    state.token = status.token;
    state.firstPosition = null;
    show("concerts", false);
    show("queue", true);
    applyStatus(status);
    if (status.status === "WAITING" && !status.soldOut) follow();
  } catch (error) {
    showError(error);
    byTestId("join-queue").disabled = false;
  }
}

// --- The queue ----------------------------------------------------------------------------------

function applyStatus(status) {
  state.status = status;
  const box = byTestId("queue-status");
  box.dataset.status = status.status;
  if (status.status === "ACTIVE") {
    stopFollowing();
    onActive(status);
    return;
  }
  clearInterval(state.clock);
  const position = byTestId("queue-position"), eta = byTestId("queue-eta");
  const label = document.getElementById("position-label"), note = document.getElementById("queue-note");
  box.dataset.following = state.stream ? "stream" : "poll";
  if (status.soldOut) {
    // Nobody more is admitted: say so, and stop asking.
    stopFollowing();
    box.dataset.following = "none";
    position.textContent = "–";
    label.textContent = "sold out";
    eta.textContent = "sold out";
    note.textContent = "Sorry, every seat has been sold. Nobody more will be let in.";
    byTestId("sold-out").classList.remove("hidden");
    return;
  }
  if (status.opensAt) {
    // Before the opening nobody has a place yet: the order is drawn fairly at the opening.
    const opensAt = Date.parse(status.opensAt);
    position.textContent = "–";
    label.textContent = "the sale has not opened yet";
    note.textContent = "Everyone who arrives before the opening gets a place in a random order when it opens: no need to refresh.";
    const tick = () => { eta.textContent = `opens in ${duration((opensAt - serverNow()) / 1000)}`; };
    tick();
    state.clock = setInterval(tick, 1000);
    return;
  }
  position.textContent = String(status.position);
  label.textContent = status.position === 1 ? "you are next" : "in line";
  if (state.firstPosition === null || status.position > state.firstPosition) state.firstPosition = status.position;
  const done = state.firstPosition > 1 ? (state.firstPosition - status.position) / (state.firstPosition - 1) : 1;
  document.getElementById("progress").style.width = `${Math.round(100 * Math.max(0.03, done))}%`;
  if (status.paused) {
    eta.textContent = "paused";
    note.textContent = "The sale is paused for a moment. You keep your place; this page carries on by itself.";
  } else {
    const seconds = status.estimatedWaitSeconds;
    eta.textContent = seconds < 60 ? `${Math.max(1, seconds)} s` : `about ${Math.round(seconds / 60)} min`;
    note.textContent = "Keep this page open: your place is kept while it is.";
  }
}

// Near the front (and the line open): a stream is worth its connection.
function wantsStream(status) {
  return Boolean(window.EventSource) && status.status === "WAITING" && !status.soldOut && status.position !== null
    && status.estimatedWaitSeconds !== null && status.estimatedWaitSeconds <= STREAM_WITHIN_SECONDS && Date.now() >= state.noStreamUntil;
}

function follow() {
  if (state.status && wantsStream(state.status)) stream(); else poll();
}

function stream() {
  stopFollowing();
  const stream = new EventSource(`/v1/queue/events?token=${encodeURIComponent(state.token)}`);
  state.stream = stream;
  byTestId("queue-status").dataset.following = "stream";
  stream.addEventListener("status", (event) => applyStatus(JSON.parse(event.data)));
  stream.addEventListener("ended", (event) => {
    stopFollowing();
    let code = "TOKEN_EXPIRED";
    try { code = JSON.parse(event.data).code || code; } catch { /* keep the default */ }
    if (state.status?.status !== "ACTIVE") queueEnded(new ApiError(401, code));
  });
  // A stream that is refused (503) or breaks (a proxy without SSE, a restart): poll at
  // pollAfterSeconds instead, and leave streams alone for a while.
  stream.onerror = () => {
    if (state.stream !== stream) return;
    stream.close();
    state.stream = null;
    state.noStreamUntil = Date.now() + STREAM_RETRY_SECONDS * 1000;
    if (state.status?.status !== "ACTIVE" && !state.status?.soldOut) poll();
  };
}

async function poll() {
  clearTimeout(state.pollTimer);
  try {
    const status = await api("GET", "/v1/queue/status", undefined, { token: state.token });
    applyStatus(status);
    if (status.status !== "WAITING" || status.soldOut) return;
    if (wantsStream(status)) return stream();
    state.pollTimer = setTimeout(poll, status.pollAfterSeconds * 1000);
  } catch (error) {
    if (error.code === "TOKEN_EXPIRED" || error.code === "TOKEN_INVALID") return queueEnded(error);
    showError(error);
    state.pollTimer = setTimeout(poll, (Number(error.retryAfter) || 3) * 1000);
  }
}

function stopFollowing() {
  if (state.stream) state.stream.close();
  state.stream = null;
  clearTimeout(state.pollTimer);
}

function queueEnded(error) {
  stopFollowing();
  clearInterval(state.clock);
  clearInterval(state.seatTimer);
  showError(error);
  reset();
}

// --- Dates and seats ----------------------------------------------------------------------------

function onActive(status) {
  show("queue", false);
  show("shop", true);
  clearInterval(state.clock);
  const until = Date.parse(status.activeUntil);
  const note = document.getElementById("active-note");
  const tick = () => { note.textContent = `It's your turn! You have ${duration((until - serverNow()) / 1000)} to choose and pay.`; };
  tick();
  state.clock = setInterval(tick, 1000);
  loadDates();
}

async function loadDates() {
  const box = document.getElementById("dates");
  try {
    const { dates } = await api("GET", `/v1/concerts/${state.concertId}/dates`, undefined, { token: state.token });
    box.replaceChildren();
    for (const { date, availableSeats } of dates) {
      const button = element("button", { class: "secondary", "data-testid": `date-${date}`, type: "button" }, `${date} · ${availableSeats} free`);
      button.addEventListener("click", () => selectDate(date, button));
      box.append(button);
    }
    if (!dates.length) box.append(element("span", { class: "muted" }, "Sold out, sorry."));
  } catch (error) {
    handleShopError(error);
  }
}

function selectDate(date, button) {
  document.querySelectorAll("#dates button").forEach((b) => b.classList.toggle("selected", b === button));
  state.date = date;
  state.chosen.clear();
  state.seatButtons.clear();
  document.getElementById("seats").replaceChildren();
  document.getElementById("max-seats").textContent = String(maxSeats);
  show("seat-area", true);
  loadSeats();
  clearInterval(state.seatTimer);
  state.seatTimer = setInterval(loadSeats, 3000);  // others buy too: keep the map current
}

async function loadSeats() {
  if (!state.date) return;
  let seats;
  try {
    ({ seats } = await api("GET", `/v1/concerts/${state.concertId}/dates/${state.date}/seats`, undefined, { token: state.token }));
  } catch (error) {
    return handleShopError(error);
  }
  const prices = [...new Set(seats.map((s) => s.price))].sort((a, b) => b - a);
  const grid = document.getElementById("seats");
  for (const seat of seats) {
    let button = state.seatButtons.get(seat.number);
    if (!button) {
      button = element("button", { type: "button", "data-testid": `seat-${seat.number}` }, String(seat.number));
      button.addEventListener("click", () => toggleSeat(seat.number));
      state.seatButtons.set(seat.number, button);
      grid.append(button);
    }
    button.dataset.status = seat.status;
    button.dataset.price = String(seat.price);
    button.className = `seat tier-${Math.min(5, prices.indexOf(seat.price))}`;
    button.title = `Seat ${seat.number}: ${won(seat.price)} (${seat.status.toLowerCase()})`;
    if (seat.status !== "AVAILABLE") state.chosen.delete(seat.number);
    button.classList.toggle("chosen", state.chosen.has(seat.number));
    button.disabled = seat.status !== "AVAILABLE" || Boolean(state.hold);
  }
  const legend = document.getElementById("legend");
  const tierColours = ["#7048e8", "#1c7ed6", "#0ca678", "#f76707", "#d6336c", "#495057"];  // as app.css .tier-N
  legend.replaceChildren(
    ...prices.map((price, i) => element("span", { style: `--swatch: ${tierColours[Math.min(5, i)]}` }, won(price))),
    element("span", { style: "--swatch: #f59f00" }, "held"), element("span", { style: "--swatch: #ced4da" }, "sold"));
  updateChosen();
}

function toggleSeat(number) {
  clearError();
  if (state.chosen.has(number)) state.chosen.delete(number);
  else if (state.chosen.size >= maxSeats) return showError(`You can hold at most ${maxSeats} seats at a time.`);
  else state.chosen.add(number);
  state.seatButtons.get(number)?.classList.toggle("chosen", state.chosen.has(number));
  updateChosen();
}

function updateChosen() {
  const numbers = [...state.chosen].sort((a, b) => a - b);
  const total = numbers.reduce((sum, n) => sum + Number(state.seatButtons.get(n)?.dataset.price || 0), 0);
  document.getElementById("chosen").textContent = numbers.length ? `Seats ${numbers.join(", ")}: ${won(total)}` : "";
  const hold = byTestId("hold-button");
  hold.disabled = !numbers.length || Boolean(state.hold);
  hold.textContent = numbers.length > 1 ? `Hold ${numbers.length} seats` : "Hold seat";
}

function handleShopError(error) {
  if (error.code === "TOKEN_EXPIRED" || error.code === "TOKEN_INVALID" || error.code === "NOT_ADMITTED") return queueEnded(error);
  showError(error);
}

// --- Hold, balance, payment ---------------------------------------------------------------------

async function hold() {
  clearError();
  const seatNumbers = [...state.chosen].sort((a, b) => a - b);
  byTestId("hold-button").disabled = true;
  try {
    const reservation = await api("POST", "/v1/reservations", { concertId: state.concertId, date: state.date, seatNumbers },
                                  { token: state.token, idempotencyKey: uuid() });
    state.hold = reservation;
    state.payKey = uuid();  // one key per hold: a repeated click can never pay twice
    state.chosen.clear();
    showCheckout();
  } catch (error) {
    handleShopError(error);
  }
  loadSeats();
}

function showCheckout() {
  const reservation = state.hold;
  show("checkout", true);
  document.getElementById("hold-summary").textContent =
    `Seats ${reservation.seatNumbers.join(", ")} on ${reservation.date}: ${won(reservation.amount)}`;
  const expires = Date.parse(reservation.expiresAt);
  const countdown = byTestId("hold-countdown");
  clearInterval(state.holdTimer);
  const tick = () => {
    const left = (expires - serverNow()) / 1000;
    countdown.textContent = duration(left);
    if (left <= 0) holdLapsed();
  };
  tick();
  state.holdTimer = setInterval(tick, 1000);
  loadBalance();
}

function holdLapsed() {
  clearInterval(state.holdTimer);
  state.hold = null;
  show("checkout", false);
  showError(MESSAGES.HOLD_EXPIRED);
  loadSeats();
}

async function loadBalance() {
  try {
    const { balance } = await api("GET", "/v1/balance", undefined, { token: state.token });
    byTestId("balance").textContent = won(balance);
  } catch (error) {
    handleShopError(error);
  }
}

async function charge() {
  clearError();
  const amount = Number(byTestId("charge-amount").value);
  try {
    const { balance } = await api("POST", "/v1/balance/charge", { amount }, { token: state.token, idempotencyKey: uuid() });
    byTestId("balance").textContent = won(balance);
    byTestId("charge-amount").value = "";
  } catch (error) {
    handleShopError(error);
  }
}

async function pay() {
  clearError();
  const button = byTestId("pay-button");
  button.disabled = true;
  try {
    const payment = await api("POST", "/v1/payments", { reservationId: state.hold.reservationId }, { token: state.token, idempotencyKey: state.payKey });
    const reservation = state.hold;
    clearInterval(state.holdTimer);
    clearInterval(state.seatTimer);
    clearInterval(state.clock);
    show("shop", false);
    show("checkout", false);
    show("done", true);
    byTestId("receipt").textContent =
      `Paid ${won(payment.amount)} for seat${reservation.seatNumbers.length > 1 ? "s" : ""} ${reservation.seatNumbers.join(", ")} on ` +
      `${reservation.date}. Payment ${payment.paymentId}. Balance left: ${won(payment.balance)}.`;
  } catch (error) {
    if (error.code === "HOLD_EXPIRED" || error.code === "RESERVATION_NOT_HELD") {
      showError(error);
      clearInterval(state.holdTimer);
      state.hold = null;
      show("checkout", false);
      loadSeats();
    } else {
      handleShopError(error);
    }
  } finally {
    button.disabled = false;
  }
}

async function release() {
  clearError();
  try {
    await api("DELETE", `/v1/reservations/${state.hold.reservationId}`, undefined, { token: state.token });
  } catch (error) {
    if (error.code !== "RESERVATION_NOT_HELD") return handleShopError(error);
  }
  clearInterval(state.holdTimer);
  state.hold = null;
  show("checkout", false);
  loadSeats();
}

// The fan gives up: the place (or the slot, with any hold) goes to the next fan at once.
async function leave() {
  clearError();
  const token = state.token;
  stopFollowing();
  if (token) {
    try {
      await api("DELETE", "/v1/queue/tokens/current", undefined, { token });
    } catch (error) {
      // An ended token has nothing left to give up.
      if (error.code !== "TOKEN_EXPIRED" && error.code !== "TOKEN_INVALID") {
        showError(error);
        if (state.status?.status === "WAITING") follow();
        return;
      }
    }
  }
  reset();
}

function reset() {
  clearInterval(state.holdTimer);
  clearInterval(state.seatTimer);
  clearInterval(state.clock);
  Object.assign(state, { token: null, status: null, date: null, hold: null });
  state.chosen.clear();
  state.seatButtons.clear();
  for (const id of ["queue", "shop", "checkout", "done", "seat-area"]) show(id, false);
  byTestId("sold-out").classList.add("hidden");
  state.noStreamUntil = 0;
  show("concerts", true);
  byTestId("join-queue").disabled = state.concertId === null;
  loadConcerts();
}

byTestId("join-queue").addEventListener("click", join);
byTestId("presale-register").addEventListener("click", registerForPresale);
byTestId("hold-button").addEventListener("click", hold);
byTestId("charge-button").addEventListener("click", charge);
byTestId("pay-button").addEventListener("click", pay);
document.getElementById("cancel-button").addEventListener("click", release);
document.getElementById("again-button").addEventListener("click", () => { clearError(); reset(); });
byTestId("leave-queue").addEventListener("click", leave);
byTestId("leave-active").addEventListener("click", leave);
byTestId("sold-out-back").addEventListener("click", () => { stopFollowing(); clearError(); reset(); });
loadConcerts();
