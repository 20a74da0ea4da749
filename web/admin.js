// The operator's page: live figures per concert (the stats route, every 2 s, charted over the last
// five minutes), pause/resume, rate, capacity and the opening time (the queue settings route),
// new concerts and dates, presales, and webhook endpoints with their last deliveries. The admin token lives in sessionStorage only: it leaves with the tab.
"use strict";

const HISTORY_SECONDS = 300;
const concerts = new Map();  // id -> { title, card, history: [{t, waiting, active, rate}] }
let statsTimer = null;

const adminToken = () => sessionStorage.getItem("boxoffice.adminToken");
const admin = (method, path, body) => api(method, `/v1/admin${path}`, body, { token: adminToken() });

async function login() {
  clearError();
  const token = byTestId("admin-token").value.trim();
  if (!token) return showError("Please paste the admin token.");
  sessionStorage.setItem("boxoffice.adminToken", token);
  try {
    await start();
  } catch (error) {
    sessionStorage.removeItem("boxoffice.adminToken");
    showError(error);
  }
}

async function start() {
  // Every admin route checks the token before its input: asking for concert 0 is refused as an
  // invalid id (400) with the right token, and as unauthorized (401) with a wrong one.
  await admin("GET", "/concerts/0/queue").catch((error) => { if (error.code !== "INVALID_REQUEST") throw error; });
  const { concerts: list } = await api("GET", "/v1/concerts");
  document.getElementById("login").classList.add("hidden");
  document.getElementById("console").classList.remove("hidden");
  for (const concert of list) addConcert(concert);
  clearInterval(statsTimer);
  statsTimer = setInterval(refreshAll, 2000);
  refreshAll();
}

function addConcert(concert) {
  if (concerts.has(concert.id)) return;
  const card = element("section", { class: "card", "data-testid": `stats-${concert.id}` });
  card.innerHTML = `
    <h2></h2>
    <div class="row"><strong class="state"></strong><span class="muted opening"></span></div>
    <table><tr><th>waiting</th><th>active</th><th>admitted/s</th><th>drains in</th><th>held</th><th>sold</th><th>available</th><th>revenue</th></tr>
      <tr class="figures"><td data-field="waiting"></td><td data-field="active"></td><td data-field="admittedPerSecond"></td>
        <td data-field="estimatedDrainSeconds"></td><td data-field="held"></td><td data-field="sold"></td><td data-field="available"></td>
        <td data-field="revenue"></td></tr></table>
    <canvas width="900" height="160" aria-label="waiting, active and admissions per second over the last five minutes"></canvas>
    <div class="legend"><span class="swatch-waiting">waiting</span><span class="swatch-active">active</span>
      <span class="swatch-rate">admitted/s (right scale)</span></div>
    <div class="row spaced-medium">
      <button data-testid="pause-${concert.id}" class="secondary">Pause</button>
      <button data-testid="resume-${concert.id}" class="secondary">Resume</button>
      <label>rate/s <input name="admitPerSecond" type="number" min="0.001" step="any" class="narrow"></label>
      <label>capacity <input name="activeCapacity" type="number" min="1" step="1" class="medium"></label>
      <label>opens <input name="opensAt" type="datetime-local" step="1"></label>
      <label title="leading zero bits of the proof of work before a place in line; 0: off">proof of work <input name="powDifficulty" type="number" min="0" max="28" step="1" class="narrow"></label>
      <label title="most seats one fan may hold or buy across orders; 0: no cap">tickets per fan <input name="maxTicketsPerUser" type="number" min="0" max="100" step="1" class="narrow"></label>
      <button class="apply">Apply</button>
    </div>`;
  card.querySelector("h2").textContent = `${concert.title} · ${concert.artist} (#${concert.id})`;
  card.querySelector(`[data-testid="pause-${concert.id}"]`).addEventListener("click", () => patch(concert.id, { paused: true }));
  card.querySelector(`[data-testid="resume-${concert.id}"]`).addEventListener("click", () => patch(concert.id, { paused: false }));
  // Apply sends only the fields the operator edited since they were filled in: a value the page
  // showed once must not overwrite what another operator (or redis-cli) has set since, above all
  // an opening scheduled or moved meanwhile.
  card.querySelector(".apply").addEventListener("click", () => {
    const change = {};
    for (const input of card.querySelectorAll("input[name]")) {
      if (input.value === input.dataset.shown) continue;
      if (input.name === "opensAt") change.opensAt = input.value ? new Date(input.value).toISOString() : null;
      else if (input.value) change[input.name] = Number(input.value);
    }
    if (Object.keys(change).length) patch(concert.id, change);
  });
  document.getElementById("concerts").append(card);
  concerts.set(concert.id, { ...concert, card, history: [], settingsShown: false });
  for (const select of ["date-concert", "presale-concert"]) {
    document.getElementById(select).append(element("option", { value: String(concert.id) }, `${concert.title} (#${concert.id})`));
  }
}

async function patch(id, change) {
  clearError();
  try {
    showSettings(concerts.get(id), await admin("PATCH", `/concerts/${id}/queue`, change), true);
  } catch (error) {
    showError(error);
  }
}

function showSettings(concert, settings, fillInputs) {
  const card = concert.card;
  card.dataset.paused = String(settings.paused);
  const opening = settings.opensAt ? Date.parse(settings.opensAt) : null;
  card.querySelector(".state").textContent = settings.paused ? "Paused" : opening ? "Not open yet" : "Selling";
  card.querySelector(".opening").textContent =
    `${settings.admitPerSecond}/s, ${settings.activeCapacity} at once` + (opening ? `, opens ${new Date(opening).toLocaleString()}` : "") +
    (settings.maxTicketsPerUser ? `, at most ${settings.maxTicketsPerUser} tickets per fan` : "") +
    (settings.powDifficulty ? `, proof of work ${settings.powDifficulty} bits` : "");
  if (fillInputs || !concert.settingsShown) {
    const local = opening ? new Date(opening - new Date(opening).getTimezoneOffset() * 60000).toISOString().slice(0, 19) : "";
    const shown = {
      admitPerSecond: String(settings.admitPerSecond), activeCapacity: String(settings.activeCapacity), opensAt: local,
      maxTicketsPerUser: String(settings.maxTicketsPerUser), powDifficulty: String(settings.powDifficulty),
    };
    for (const [name, value] of Object.entries(shown)) {
      const input = card.querySelector(`input[name="${name}"]`);
      input.value = value;
      input.dataset.shown = input.value;  // as the input holds it (a datetime-local may normalise)
    }
    concert.settingsShown = true;
  }
}

// Six concerts at a time, and a round starts only when the last one is done: an operator with
// hundreds of concerts costs the instances a steady trickle, not hundreds of requests at once.
let refreshing = false;
async function refreshAll() {
  if (refreshing) return;
  refreshing = true;
  try {
    const queue = [...concerts.values()];
    await Promise.all(Array.from({ length: 6 }, async () => {
      while (queue.length) await refresh(queue.shift());
    }));
    await refreshWebhooks().catch(showError);
  } finally {
    refreshing = false;
  }
}

async function refresh(concert) {
  try {
    const [stats, settings] = await Promise.all([admin("GET", `/concerts/${concert.id}/stats`), admin("GET", `/concerts/${concert.id}/queue`)]);
    showSettings(concert, settings, false);
    for (const cell of concert.card.querySelectorAll("[data-field]")) {
      const value = stats[cell.dataset.field];
      cell.textContent =
        cell.dataset.field === "revenue" ? won(value)
        : cell.dataset.field === "estimatedDrainSeconds" ? (value === null ? "—" : duration(value))
        : cell.dataset.field === "admittedPerSecond" ? value.toFixed(1)
        : String(value);
    }
    const now = Date.now();
    concert.history.push({ t: now, waiting: stats.waiting, active: stats.active, rate: stats.admittedPerSecond });
    concert.history = concert.history.filter((p) => now - p.t <= HISTORY_SECONDS * 1000);
    draw(concert);
  } catch (error) {
    // A concert created a moment ago through another instance is known there within a second.
    if (error.code === "CONCERT_NOT_FOUND" && concert.history.length === 0) return;
    if (error.code === "ADMIN_UNAUTHORIZED") {
      clearInterval(statsTimer);
      sessionStorage.removeItem("boxoffice.adminToken");
      location.reload();
    }
    showError(error);
  }
}

function draw(concert) {
  const canvas = concert.card.querySelector("canvas");
  const g = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 24;
  g.clearRect(0, 0, w, h);
  const points = concert.history;
  const now = Date.now();
  const peopleMax = Math.max(10, ...points.map((p) => Math.max(p.waiting, p.active)));
  const rateMax = Math.max(1, ...points.map((p) => p.rate));
  g.font = "12px system-ui, sans-serif";
  g.fillStyle = "#667085";
  g.fillText(String(peopleMax), 2, 12);
  g.fillText(`${rateMax.toFixed(1)}/s`, w - 60, 12);
  g.fillText("5 min ago", pad, h - 4);
  g.fillText("now", w - 30, h - 4);
  const x = (t) => pad + ((t - (now - HISTORY_SECONDS * 1000)) / (HISTORY_SECONDS * 1000)) * (w - 2 * pad);
  const line = (colour, value, max) => {
    g.strokeStyle = colour;
    g.lineWidth = 2;
    g.beginPath();
    points.forEach((p, i) => {
      const y = h - pad - (value(p) / max) * (h - 2 * pad);
      if (i) g.lineTo(x(p.t), y); else g.moveTo(x(p.t), y);
    });
    g.stroke();
  };
  line("#3b5bdb", (p) => p.waiting, peopleMax);
  line("#2b8a3e", (p) => p.active, peopleMax);
  line("#f76707", (p) => p.rate, rateMax);
}

async function createConcert() {
  clearError();
  try {
    const concert = await admin("POST", "/concerts", {
      title: document.getElementById("new-title").value, artist: document.getElementById("new-artist").value,
    });
    addConcert(concert);
    document.getElementById("date-concert").value = String(concert.id);
    document.getElementById("new-title").value = "";
    document.getElementById("new-artist").value = "";
  } catch (error) {
    showError(error);
  }
}

// "88000" (every seat) or "1-10:198000, 11-50:99000" (tiers), as the admin API takes them.
function parsePrices(text) {
  text = text.trim();
  if (/^\d+$/.test(text)) return { prices: Array(50).fill(Number(text)) };
  const tiers = text.split(",").map((part) => {
    const match = part.trim().match(/^(\d+)\s*-\s*(\d+)\s*:\s*(\d+)$/);
    if (!match) throw new Error(`"${part.trim()}" is not a tier like 1-10:198000.`);
    return { from: Number(match[1]), to: Number(match[2]), price: Number(match[3]) };
  });
  return { tiers };
}

async function addDate() {
  clearError();
  const id = document.getElementById("date-concert").value;
  let prices;
  try {
    prices = parsePrices(document.getElementById("date-tiers").value);
  } catch (error) {
    return showError(error.message);
  }
  try {
    const created = await admin("POST", `/concerts/${id}/dates`, { date: document.getElementById("date-day").value, ...prices });
    const note = element("div", { class: "notice" }, `Added ${created.date} with ${created.seats} seats to concert #${created.concertId}.`);
    document.getElementById("add-date").after(note);
    setTimeout(() => note.remove(), 5000);
  } catch (error) {
    showError(error);
  }
}

// --- Presales ------------------------------------------------------------------------------------

const localTime = (id) => {
  const value = document.getElementById(id).value;
  return value ? new Date(value).toISOString() : "";
};

function showPresale(presale) {
  const registrations = presale.seed ? "" : " (registration " + (Date.parse(presale.registrationClosesAt) > Date.now() ? "open" : "closed") + ")";
  document.getElementById("presale-state").textContent =
    `#${presale.concertId}: ${presale.registered} registered${registrations}, ${presale.winners} to win, ` +
    `commitment ${presale.seedCommitment.slice(0, 16)}…` + (presale.seed ? `, drawn; seed ${presale.seed}` : ", not drawn yet");
}

async function presaleAction(action) {
  clearError();
  const id = document.getElementById("presale-concert").value;
  try {
    if (action === "create") {
      showPresale(await admin("POST", `/concerts/${id}/presale`, {
        registrationClosesAt: localTime("presale-closes"), saleOpensAt: localTime("presale-opens"),
        saleClosesAt: localTime("presale-ends"), winners: Number(document.getElementById("presale-winners").value),
      }));
    } else if (action === "draw") {
      showPresale(await admin("POST", `/concerts/${id}/presale/draw`));
    } else {
      showPresale(await api("GET", `/v1/concerts/${id}/presale`));
    }
  } catch (error) {
    showError(error);
  }
}

// --- Webhooks -------------------------------------------------------------------------------------

// One row per endpoint: its state and its last five attempts (failures marked), refreshed with the figures.
async function refreshWebhooks() {
  const { webhooks } = await admin("GET", "/webhooks");
  const rows = await Promise.all(webhooks.map(async (webhook) => {
    const { deliveries } = await admin("GET", `/webhooks/${webhook.id}/deliveries?limit=5`);
    const row = element("tr", { "data-testid": `webhook-${webhook.id}` });
    const state = webhook.enabled ? "enabled" : `disabled: ${webhook.disabledReason ?? ""}`;
    const attempts = deliveries.map((attempt) => {
      const ok = attempt.httpStatus !== null && attempt.httpStatus >= 200 && attempt.httpStatus < 300;
      const outcome = attempt.httpStatus !== null ? `HTTP ${attempt.httpStatus}` : (attempt.error ?? "no answer");
      const retry = attempt.nextAttemptAt ? `, retry ${new Date(attempt.nextAttemptAt).toLocaleTimeString()}` : "";
      return element("div", { class: ok ? "" : "failed" }, `${attempt.type} ${attempt.eventId} #${attempt.attempt}: ${outcome}${retry}`);
    });
    const remove = element("button", { class: "secondary" }, "Remove");
    remove.addEventListener("click", async () => {
      try { await admin("DELETE", `/webhooks/${webhook.id}`); refreshWebhooks(); } catch (error) { showError(error); }
    });
    const cells = [webhook.url, webhook.events.join(", "), state].map((text) => element("td", {}, text));
    const log = element("td", { "data-testid": `webhook-log-${webhook.id}` });
    log.append(...(attempts.length ? attempts : [element("span", { class: "muted" }, "none yet")]));
    const actions = element("td");
    actions.append(remove);
    row.append(...cells, log, actions);
    return row;
  }));
  document.getElementById("webhook-rows").replaceChildren(...rows);
}

async function registerWebhook() {
  clearError();
  const events = document.getElementById("webhook-events").value.split(",").map((type) => type.trim()).filter(Boolean);
  try {
    const created = await admin("POST", "/webhooks", { url: document.getElementById("webhook-url").value.trim(), events });
    const secret = document.getElementById("webhook-secret");
    secret.textContent = `Registered ${created.id}. Its signing secret, shown this once: ${created.secret}`;
    secret.classList.remove("hidden");
    document.getElementById("webhook-url").value = "";
    refreshWebhooks();
  } catch (error) {
    showError(error);
  }
}

byTestId("admin-login").addEventListener("click", login);
document.getElementById("webhook-register").addEventListener("click", registerWebhook);
document.getElementById("presale-create").addEventListener("click", () => presaleAction("create"));
document.getElementById("presale-draw").addEventListener("click", () => presaleAction("draw"));
document.getElementById("presale-show").addEventListener("click", () => presaleAction("show"));
byTestId("admin-token").addEventListener("keydown", (event) => { if (event.key === "Enter") login(); });
document.getElementById("create-concert").addEventListener("click", createConcert);
document.getElementById("add-date").addEventListener("click", addDate);
if (adminToken()) start().catch((error) => { sessionStorage.removeItem("boxoffice.adminToken"); showError(error); });
