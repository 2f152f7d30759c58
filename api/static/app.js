// The district's page: public figures, live payments (SSE), the commons fund, merchants, payment
// requests, sign-in and the resident's space; `?display=mairie` turns it into the town-hall screen.
// No build step; Chart.js comes from npm (served at /vendor/chart.umd.js).
"use strict";

const $ = (id) => document.getElementById(id);
const charts = {};
window.districtCharts = charts; // for the browser test
const CATEGORY_FR = {
  "food": "alimentation", "co-working": "co-working", "car-sharing": "autopartage", "parking": "parking",
  "concierge": "conciergerie", "retail": "commerce", "other": "autre",
};
// The sign-in statement the server puts in the EIP-4361 message (api/siwe.py SIGN_IN_STATEMENT):
// the page refuses to ask for a signature over a message that says anything else.
const SIGN_IN_STATEMENT =
  "Connexion au registre de la Monnaie du 3e (Lyon) pour consulter mon espace personnel, sans aucun paiement.";
const MAIRIE = new URLSearchParams(location.search).get("display") === "mairie";
const PARIS = "Europe/Paris";

async function api(path, options) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const message = body && body.error ? body.error.message : `HTTP ${response.status}`;
    throw new Error(message);
  }
  return body;
}

// -- French formats --------------------------------------------------------------------------------
// Amounts arrive as integer micro-units in strings; they are formatted from an exact decimal
// string (Intl takes strings exactly), truncated to two decimals: a figure never shows a cent
// that is not there.
function microToDecimal(micro) {
  let v = BigInt(micro);
  const sign = v < 0n ? "-" : "";
  if (v < 0n) v = -v;
  return `${sign}${v / 1000000n}.${(v % 1000000n).toString().padStart(6, "0")}`;
}
const TWO = { minimumFractionDigits: 2, maximumFractionDigits: 2, roundingMode: "trunc" };
const m3eFormat = new Intl.NumberFormat("fr-FR", TWO);
const eurFormat = new Intl.NumberFormat("fr-FR", { style: "currency", currency: "EUR", ...TWO });
const whole = new Intl.NumberFormat("fr-FR");
const oneDecimal = new Intl.NumberFormat("fr-FR", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const fmtM3E = (micro) => `${m3eFormat.format(microToDecimal(micro))}\u00a0M3E`;
const fmtEUR = (micro) => eurFormat.format(microToDecimal(micro));
const fmtPct = (ratio) => (ratio === null || ratio === undefined ? "—" : `${oneDecimal.format(String(Number(ratio) * 100))}\u00a0%`);
// Wh are integers: kWh are written from an exact decimal string too.
const fmtKWh = (wh) => `${oneDecimal.format(`${Math.trunc(wh / 1000)}.${String(Math.abs(wh) % 1000).padStart(3, "0")}`)}\u00a0kWh`;
const dateTime = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit" });
const shortDateTime = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit" });
const clockTime = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, hour: "2-digit", minute: "2-digit", second: "2-digit" });
const hourMinute = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, hour: "2-digit", minute: "2-digit" });
const fmtWhen = (unix) => (unix === null || unix === undefined ? "—" : dateTime.format(new Date(unix * 1000)));
// YYYY-MM-DD of a moment, in Paris.
const parisDay = (moment) => new Intl.DateTimeFormat("en-CA", { timeZone: PARIS, year: "numeric", month: "2-digit", day: "2-digit" }).format(moment);

// Names and references come from the chain, where a registrar's or council's key may write any
// text: a character a person cannot see or that turns the text around it (controls, bidi overrides,
// zero-width and blank letters and marks, unusual spaces, a plain space at either end or after
// another, which the page would collapse) is shown as its code point, `<U+202E>`, as the wallet
// prints it (`printable` in ledger/names.py): no invisible character hides in a name. Look-alike
// letters and a name registered twice are the registrar's check (the merchant's number tells them
// apart). A character newer than the server's Unicode is drawn, where the wallet escapes it.
const UNSAFE = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Cn}\p{Zl}\p{Zp}\u115f\u1160\u3164\uffa0\u2800\u17b4\u17b5\u180e\u034f\u180b-\u180d\u180f\ufe00-\ufe0f\u{e0100}-\u{e01ef}]|(?! )\p{Zs}|^ | $|(?<= ) /gu;
const shown = (s) => String(s).replace(UNSAFE, (c) => `<U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}>`);

// Chart values only (pixels): amounts stay exact strings in every text the page shows.
const chartM3E = (micro) => Number(BigInt(micro) / 10000n) / 100;

function text(el, value) { el.textContent = value; }
// A town-hall figure: the number large, its unit smaller after an ordinary space, so a long
// figure wraps before its unit rather than inside it.
function bigFigure(el, formatted) {
  const cut = formatted.lastIndexOf("\u00a0");
  const unit = document.createElement("span");
  unit.className = "unit";
  unit.textContent = formatted.slice(cut + 1);
  el.replaceChildren(formatted.slice(0, cut), " ", unit);
}
function cell(tr, value) { const td = document.createElement("td"); td.textContent = value; tr.append(td); return td; }

function setStatus(block, live) {
  if (block !== undefined) text($("status-text"), `Indexé jusqu'au bloc ${whole.format(block)}`);
  if (live !== undefined) $("live-dot").classList.toggle("live", live);
}

// -- the currency -----------------------------------------------------------------------------------

async function loadToken() {
  const t = await api("/v1/token");
  text($("supply"), fmtM3E(t.total_supply.micro));
  text($("reserve"), fmtEUR(t.reserve.micro));
  text($("backing"), fmtPct(t.backing_ratio));
  text($("declared"), fmtEUR(t.declaration.digital_payments.micro));
  $("declared-bar").value = Math.min(1000, Number(t.declaration.share_of_threshold) * 1000);
  const share = new Intl.NumberFormat("fr-FR", { maximumFractionDigits: 4 }).format(t.declaration.share_of_threshold * 100);
  text($("declared-hint"), `${share}\u00a0% du seuil de déclaration (${fmtEUR(t.declaration.threshold.micro)})`);
  bigFigure($("mairie-supply"), fmtM3E(t.total_supply.micro));
  text($("mairie-backing"), `garantis par ${fmtEUR(t.reserve.micro)} en banque (${fmtPct(t.backing_ratio)})`);
  setStatus(t.indexed_block);
}

const chartOptions = (extra) => ({
  responsive: true, maintainAspectRatio: false, animation: false, locale: "fr-FR",
  plugins: { legend: { position: "bottom" } }, ...extra,
});

async function loadSupplyChart() {
  const s = await api("/v1/token/supply-history?limit=200");
  const data = {
    labels: s.points.map((p) => shortDateTime.format(new Date(p.time * 1000))),
    datasets: [
      { label: "Monnaie émise (M3E)", data: s.points.map((p) => chartM3E(p.total_supply.micro)), borderColor: "#1d2433", stepped: true },
      { label: "Réserve (€)", data: s.points.map((p) => chartM3E(p.reserve.micro)), borderColor: "#15803d", borderDash: [6, 4], stepped: true },
    ],
  };
  if (charts.supply) { charts.supply.data = data; charts.supply.update(); return; }
  charts.supply = new Chart($("chart-supply"), {
    type: "line", data,
    options: chartOptions({ scales: { x: { title: { display: true, text: "date et heure (Paris)" } } } }),
  });
}

// -- live payments ------------------------------------------------------------------------------------

const perMerchant = new Map(); // merchant id -> { name, micro }: two merchants of one name stay two bars
const seenPayments = new Set();
let paymentsToday = 0;

function merchantChart() {
  if (MAIRIE) return;
  const rows = [...perMerchant.entries()];
  const counts = new Map();
  for (const [, m] of rows) counts.set(m.name, (counts.get(m.name) || 0) + 1);
  const labels = rows.map(([id, m]) => (counts.get(m.name) > 1 ? `${m.name} (n°${id})` : m.name));
  const values = rows.map(([, m]) => chartM3E(m.micro.toString()));
  if (!charts.merchants) {
    charts.merchants = new Chart($("chart-merchants"), {
      type: "bar",
      data: { labels, datasets: [{ label: "Payé (M3E), paiements récents", data: values, backgroundColor: "#c2410c" }] },
      options: chartOptions({ indexAxis: "y" }),
    });
  } else {
    charts.merchants.data.labels = labels;
    charts.merchants.data.datasets[0].data = values;
    charts.merchants.update();
  }
}

function feedLine(p, fresh) {
  const li = document.createElement("li");
  li.className = `payment${fresh ? " fresh" : ""}`;
  const when = document.createElement("time");
  when.className = "when";
  if (p.time !== null && p.time !== undefined) {
    when.dateTime = new Date(p.time * 1000).toISOString();
    when.textContent = p.day === parisDay(new Date()) ? clockTime.format(new Date(p.time * 1000)) : shortDateTime.format(new Date(p.time * 1000));
  } else {
    when.textContent = p.day;
  }
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = `${p.kind === "refund" ? "↩ remboursement · " : ""}${p.merchant ? shown(p.merchant) : "commerce n°" + p.merchant_id}`;
  const amount = document.createElement("strong");
  amount.textContent = (p.kind === "refund" ? "−" : "") + fmtM3E(p.amount.micro);
  li.append(when, who, amount);
  li.title = `bloc ${p.block}`;
  return li;
}

function addPayment(p, fresh) {
  const key = `${p.block}.${p.log_index}`;
  if (seenPayments.has(key)) return;
  seenPayments.add(key);
  for (const list of [$("feed"), $("mairie-feed")]) {
    list.prepend(feedLine(p, fresh));
    while (list.children.length > (list.id === "feed" ? 50 : 6)) list.lastChild.remove();
  }
  const name = p.merchant ? shown(p.merchant) : `n°${p.merchant_id}`;
  const sign = p.kind === "refund" ? -1n : 1n;
  const sum = perMerchant.get(p.merchant_id) || { name, micro: 0n };
  perMerchant.set(p.merchant_id, { name, micro: sum.micro + sign * BigInt(p.amount.micro) });
  if (p.kind === "payment" && p.day === parisDay(new Date())) paymentsToday += 1;
  text($("mairie-services"), whole.format(paymentsToday));
  merchantChart();
}

async function loadRecentPayments() {
  const r = await api("/v1/payments/recent?limit=100");
  r.payments.slice().reverse().forEach((p) => addPayment(p, false));
  merchantChart();
}

function startFeed() {
  const source = new EventSource("/v1/feed");
  source.onopen = () => setStatus(undefined, true);
  source.onerror = () => setStatus(undefined, false);
  // The event's name is its kind (payment or refund): the data does not repeat it.
  const onPayment = (e) => { addPayment({ ...JSON.parse(e.data), kind: e.type }, true); scheduleRefresh(); };
  source.addEventListener("payment", onPayment);
  source.addEventListener("refund", onPayment);
  source.addEventListener("settlement", () => scheduleRefresh());
  source.addEventListener("block", (e) => { setStatus(JSON.parse(e.data).number, true); scheduleRefresh(); });
  source.addEventListener("reorg", (e) => {
    const r = JSON.parse(e.data);
    const li = document.createElement("li");
    li.className = "reorg fresh";
    li.textContent = `⚠ réorganisation : ${r.message}`;
    $("feed").prepend(li);
    scheduleRefresh();
  });
}

let refreshTimer = null;
function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(async () => {
    refreshTimer = null;
    await Promise.allSettled([loadToken(), loadSupplyChart(), loadCommons(), loadEnergy(energyDay)]);
  }, 1000);
}

// -- the commons fund, euro payouts and the pause ----------------------------------------------------

// Everything the page says about the fund is drawn here: the fee account and euro payouts from
// GET /v1/commons, the fund contract's programmes, flows and balance from GET /v1/fund (`f` is
// null when this district has no fund contract: its part stays hidden).
const SOURCE_FR = { REDEMPTION_FEES: "commissions de conversion", SOLIDARITY_SURCHARGE: "surcoût solidaire des heures pleines" };
const monthName = new Intl.DateTimeFormat("fr-FR", { month: "long", year: "numeric", timeZone: "UTC" });
const fmtMonth = (label) => monthName.format(new Date(`${label}-01T00:00:00Z`));

function programmeState(p) {
  if (!p.active) return "fermé";
  if (p.budget_spent) return "budget du mois épuisé : le prix normal s'applique";
  return "ouvert";
}

function renderFund(f) {
  $("fund-programmes-part").hidden = false;
  text($("fund-summary"), `Le contrat du fonds détient ${fmtM3E(f.balance.micro)} : reçu ${fmtM3E(f.recorded_in.micro)}, versé ${fmtM3E(f.recorded_out.micro)} par ses programmes. Chaque programme a un budget par mois que le contrat ne laisse jamais dépasser.`);
  const names = new Map(f.programmes.map((p) => [p.programme_id, shown(p.name)]));
  const programmes = $("fund-programmes");
  programmes.replaceChildren();
  for (const p of f.programmes) {
    const tr = document.createElement("tr");
    tr.dataset.programme = String(p.programme_id);
    cell(tr, shown(p.name));
    cell(tr, fmtM3E(p.monthly_budget.micro));
    cell(tr, fmtM3E(p.spent_this_month.micro));
    cell(tr, fmtM3E(p.left_this_month.micro));
    cell(tr, programmeState(p));
    programmes.append(tr);
  }
  emptyRow(programmes, 5, "Aucun programme ouvert par le conseil pour l'instant.");
  // Newest month first; within a month, what came in before what went out.
  const flows = [
    ...f.inflows.map((x) => ({ month: x.month, what: SOURCE_FR[x.source] || `« ${shown(x.source)} » (source nommée par le contributeur)`, amount: x.amount.micro, count: x.count, out: false })),
    ...f.outflows.map((x) => ({ month: x.month, what: names.get(x.programme_id) || `programme ${x.programme_id}`, amount: x.amount.micro, count: x.count, out: true })),
  ].sort((a, b) => (a.month === b.month ? Number(a.out) - Number(b.out) : (a.month < b.month ? 1 : -1)));
  const body = $("fund-flows");
  body.replaceChildren();
  for (const x of flows) {
    const tr = document.createElement("tr");
    cell(tr, fmtMonth(x.month));
    cell(tr, x.out ? `versé par « ${x.what} »` : `reçu : ${x.what}`);
    cell(tr, x.out ? "" : `+${fmtM3E(x.amount)}`);
    cell(tr, x.out ? `−${fmtM3E(x.amount)}` : "");
    cell(tr, whole.format(x.count));
    body.append(tr);
  }
  emptyRow(body, 5, "Rien n'est encore entré ni sorti du fonds.");
  // What the energy settlement moved through the fund, newest month first (older APIs: none).
  const solidarity = $("fund-solidarity");
  solidarity.replaceChildren();
  for (const m of f.solidarity || []) {
    const tr = document.createElement("tr");
    cell(tr, fmtMonth(m.month));
    cell(tr, `+${fmtM3E(m.surcharges_received.micro)}`);
    cell(tr, `−${fmtM3E(m.discounts_paid.micro)}`);
    cell(tr, `−${fmtM3E(m.social_paid.micro)}`);
    solidarity.append(tr);
  }
  emptyRow(solidarity, 4, "Aucun jour réglé avec un tarif solidaire ou le prix social pour l'instant.");
  bigFigure($("mairie-fund"), fmtM3E(f.balance.micro));
  text($("mairie-fund-inflows"), `reçu ${fmtM3E(f.recorded_in.micro)}, versé ${fmtM3E(f.recorded_out.micro)} aux programmes du quartier`);
}

function renderCommons(c, f) {
  $("paused-banner").hidden = !c.paused;
  if (c.paused) text($("paused-text"), `Depuis le bloc ${whole.format(c.paused_block)}, aucun paiement, virement ni conversion n'est possible ; les soldes sont conservés.`);
  text($("fund-balance"), fmtM3E(c.fund.balance.micro));
  text($("fund-inflows"), fmtM3E(c.fund.fee_inflows.micro));
  text($("fund-address"), c.fund.address || "non désigné");
  text($("euros-paid"), fmtEUR(c.euros_paid.micro));
  text($("redemption-count"), `(${whole.format(c.redemptions)} conversion${c.redemptions > 1 ? "s" : ""})`);
  const body = $("redemptions");
  body.replaceChildren();
  for (const r of c.recent_redemptions) {
    const tr = document.createElement("tr");
    cell(tr, fmtWhen(r.time));
    cell(tr, r.merchant ? shown(r.merchant) : "commerce");
    cell(tr, fmtM3E(r.amount.micro));
    cell(tr, fmtM3E(r.fee.micro));
    cell(tr, fmtEUR(r.euros.micro));
    body.append(tr);
  }
  if (!c.recent_redemptions.length) {
    const tr = document.createElement("tr");
    cell(tr, "Aucune conversion en euros pour l'instant.").colSpan = 5;
    body.append(tr);
  }
  if (f) { renderFund(f); return; }
  // No fund contract: the town hall shows the account that receives the fees.
  bigFigure($("mairie-fund"), fmtM3E(c.fund.balance.micro));
  text($("mairie-fund-inflows"), `dont ${fmtM3E(c.fund.fee_inflows.micro)} de commissions de conversion`);
}

async function loadCommons() {
  const [c, f] = await Promise.all([api("/v1/commons"), api("/v1/fund").catch(() => null)]);
  renderCommons(c, f);
}

// -- merchants -----------------------------------------------------------------------------------------

async function loadMerchants() {
  const category = $("category").value;
  const r = await api(`/v1/merchants${category ? "?category=" + encodeURIComponent(category) : ""}`);
  const list = $("merchants");
  list.replaceChildren();
  for (const m of r.merchants) {
    const li = document.createElement("li");
    const name = document.createElement("strong");
    name.textContent = shown(m.name);
    const cat = document.createElement("div");
    cat.className = "cat";
    cat.textContent = `${CATEGORY_FR[m.category] || m.category} · n°${m.id}${m.active ? "" : " · suspendu"}`;
    li.append(name, cat);
    if (m.street_address) {
      const where = document.createElement("address");
      where.textContent = shown(m.street_address);
      li.append(where);
    }
    list.append(li);
  }
  if (!r.merchants.length) { const li = document.createElement("li"); li.textContent = "Aucun commerce dans cette catégorie."; list.append(li); }
}

// -- solar energy ----------------------------------------------------------------------------------

let energyDay = null; // YYYY-MM-DD shown; null until the latest day with data is found
const hasData = (e) => e.steps.some((s) => s.production_wh !== null || s.consumption_wh !== null);

// The latest day with published figures, looking back at most two weeks from today (Paris) the
// first time; afterwards (on each new block) only today is asked again, until it has data.
let energySearched = false;
async function latestEnergyDay() {
  const day = new Date();
  const depth = energySearched ? 1 : 14;
  energySearched = true;
  for (let back = 0; back < depth; back += 1) {
    const iso = parisDay(new Date(day.getTime() - back * 86400000));
    try {
      const e = await api(`/v1/energy/district?day=${iso}`);
      if (hasData(e)) return [iso, e];
    } catch (_) { return [null, null]; }
  }
  return [null, null];
}

function drawEnergy(e) {
  $("energy").hidden = false;
  const t = e.totals;
  text($("energy-rate"), `Autoconsommation : ${fmtPct(e.self_consumption_rate)} · produit ${fmtKWh(t.production_wh)}, consommé ${fmtKWh(t.consumption_wh)}`
    + (t.gas_wh || t.water_l ? ` · gaz ${fmtKWh(t.gas_wh)} · eau ${whole.format(t.water_l)} L` : ""));
  text($("mairie-solar"), fmtPct(e.self_consumption_rate));
  const when = e.day === parisDay(new Date()) ? "aujourd'hui" : `le ${new Intl.DateTimeFormat("fr-FR", { dateStyle: "long", timeZone: "UTC" }).format(new Date(e.day))}`;
  text($("mairie-solar-detail"), `du solaire produit consommé dans le quartier ${when} · ${fmtKWh(t.production_wh)} produits`);
  const data = {
    labels: e.steps.map((s) => hourMinute.format(new Date(s.start))),
    datasets: [
      { label: "Production solaire (Wh)", data: e.steps.map((s) => s.production_wh), borderColor: "#a16207", backgroundColor: "#eab30833", fill: true, spanGaps: false },
      { label: "Consommation (Wh)", data: e.steps.map((s) => s.consumption_wh), borderColor: "#2563eb", spanGaps: false },
      { label: "Autoconsommation (%)", data: e.steps.map((s) => (s.self_consumption_rate === null ? null : Number(s.self_consumption_rate) * 100)), borderColor: "#15803d", borderDash: [4, 3], yAxisID: "rate", spanGaps: false },
    ],
  };
  if (charts.energy) { charts.energy.data = data; charts.energy.update(); return; }
  charts.energy = new Chart($("chart-energy"), {
    type: "line", data,
    options: chartOptions({
      scales: { x: { title: { display: true, text: "heure (Paris)" } },
                y: { beginAtZero: true, title: { display: true, text: "Wh" } },
                rate: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: "%" } } },
    }),
  });
}

// Figures of fewer than 5 homes come as null (never shown): the chart leaves a gap there.
async function loadEnergy(day) {
  try {
    let e;
    if (day) {
      e = await api(`/v1/energy/district?day=${day}`);
    } else {
      [day, e] = await latestEnergyDay();
      if (!day) return; // no energy data published: the section stays hidden
      energyDay = day;
      $("energy-day").value = day;
    }
    $("energy-day").max = parisDay(new Date());
    drawEnergy(e);
  } catch (err) {
    if (!$("energy").hidden) text($("energy-rate"), err.message);
  }
}

// -- payment requests ----------------------------------------------------------------------------------

function toMicro(value) {
  const m = /^([0-9]+)(?:[.,]([0-9]{1,6}))?$/.exec(value.trim());
  if (!m) throw new Error("Montant invalide : écrivez par exemple 12,50");
  return (BigInt(m[1]) * 1000000n + BigInt((m[2] || "").padEnd(6, "0"))).toString();
}

async function paymentRequest(event) {
  event.preventDefault();
  text($("request-error"), "");
  try {
    const q = `to=${encodeURIComponent($("request-to").value.trim())}&amount=${toMicro($("request-amount").value)}`;
    const r = await api(`/v1/payment-requests?${q}`);
    text($("request-uri"), r.uri);
    $("request-qr").src = r.qr_svg;
    $("request-out").hidden = false;
  } catch (e) { text($("request-error"), e.message); }
}

// -- my space --------------------------------------------------------------------------------------

const STATE_FR = { open: "en dépôt", closed: "clôturée", reclaimed: "dépôt repris" };
let me = null;

function setStatementLink() {
  const month = $("me-month").value || parisDay(new Date()).slice(0, 7);
  $("me-statement").href = `/v1/accounts/${me}/statement.csv?month=${month}`;
}

async function showMe(address) {
  me = address;
  $("signin").hidden = true;
  $("me").hidden = false;
  text($("me-who"), address);
  $("me-month").value = parisDay(new Date()).slice(0, 7);
  setStatementLink();
  await Promise.allSettled([myBalance(), myPayments(), myBookings(), myTransfers(), myEnergy(), myMandates()]);
}

async function myBalance() {
  const b = await api(`/v1/accounts/${me}/balance`);
  text($("me-balance"), fmtM3E(b.balance.micro));
}

function emptyRow(body, columns, sentence) {
  if (body.children.length) return;
  const tr = document.createElement("tr");
  cell(tr, sentence).colSpan = columns;
  body.append(tr);
}

async function myPayments() {
  const p = await api(`/v1/accounts/${me}/payments?limit=50`);
  const body = $("me-payments");
  body.replaceChildren();
  for (const row of p.payments) {
    const tr = document.createElement("tr");
    cell(tr, row.time ? fmtWhen(row.time) : row.day);
    cell(tr, row.merchant ? shown(row.merchant) : `commerce n°${row.merchant_id}`);
    cell(tr, row.ref_source === "commitment" ? "(dans votre portefeuille)" : shown(row.ref ?? ""));
    cell(tr, (row.kind === "refund" ? "+" : "−") + fmtM3E(row.amount.micro));
    body.append(tr);
  }
  emptyRow(body, 4, "Aucun paiement.");
}

async function myBookings() {
  const b = await api(`/v1/accounts/${me}/bookings`);
  text($("me-held"), fmtM3E(b.held.micro));
  const body = $("me-bookings");
  body.replaceChildren();
  for (const row of b.bookings) {
    const tr = document.createElement("tr");
    tr.className = `booking ${row.state}`;
    cell(tr, fmtWhen(row.opened_time));
    cell(tr, row.merchant ? shown(row.merchant) : `service n°${row.merchant_id}`);
    cell(tr, fmtM3E(row.deposit.micro));
    cell(tr, STATE_FR[row.state] + (row.charged ? ` · facturé ${fmtM3E(row.charged.micro)}` : ""));
    cell(tr, fmtWhen(row.expires_at));
    body.append(tr);
  }
  emptyRow(body, 5, "Aucune réservation.");
}

const DIRECTION_FR = { in: "reçu", out: "envoyé", self: "à moi-même" };
const KIND_FR = { mint: "achat de M3E (dépôt en euros)", burn: "conversion en euros" };

async function myTransfers() {
  const h = await api(`/v1/accounts/${me}/history?limit=50`);
  const body = $("me-transfers");
  body.replaceChildren();
  for (const row of h.items) {
    const tr = document.createElement("tr");
    cell(tr, fmtWhen(row.time));
    cell(tr, DIRECTION_FR[row.direction]);
    cell(tr, KIND_FR[row.kind] || row.counterparty);
    cell(tr, (row.direction === "out" ? "−" : "+") + fmtM3E(row.amount.micro));
    body.append(tr);
  }
  emptyRow(body, 4, "Aucun virement.");
}

async function myEnergy() {
  const today = parisDay(new Date());
  const e = await api(`/v1/accounts/${me}/energy?day=${energyDay || today}&days=31`);
  let earned = 0n; let owed = 0n; let fundPaid = 0n; let paid = 0n; let surcharge = 0n; let discount = 0n; let produced = 0; let bought = 0;
  for (const d of e.days) {
    earned += BigInt(d.earned.micro); owed += BigInt(d.owed.micro); fundPaid += BigInt(d.fund_paid.micro); paid += BigInt(d.paid.micro);
    surcharge += BigInt(d.peak_surcharge ? d.peak_surcharge.micro : "0"); discount += BigInt(d.off_peak_discount ? d.off_peak_discount.micro : "0");
    produced += d.produced_wh || 0; bought += d.bought_wh;
  }
  text($("me-earned"), fmtM3E(earned.toString()));
  // A helped household (social price) sees both parts: what it paid and what the fund paid; the
  // tariff's solidarity component shows its surcharge (peak) and discount (off-peak).
  const parts = [];
  if (fundPaid > 0n) parts.push(`le fonds commun ${fmtM3E(fundPaid.toString())} (prix social)`);
  if (discount > 0n) parts.push(`le fonds commun ${fmtM3E(discount.toString())} (remise des heures creuses)`);
  if (surcharge > 0n) parts.push(`dont ${fmtM3E(surcharge.toString())} de surcoût solidaire des heures pleines versé au fonds commun`);
  const social = parts.length ? ` : vous avez payé ${fmtM3E(paid.toString())} en tout ; ${parts.join(", ")}` : "";
  text($("me-energy-summary"), `Sur 31 jours : produit ${fmtKWh(produced)}, gagné ${fmtM3E(earned.toString())} ; acheté aux voisins ${fmtKWh(bought)} pour ${fmtM3E(owed.toString())}${social}. Courbes du ${new Intl.DateTimeFormat("fr-FR", { dateStyle: "long", timeZone: "UTC" }).format(new Date(e.day))}.`);
  const data = {
    labels: e.steps.map((s) => hourMinute.format(new Date(s.start))),
    datasets: [
      { label: "Ma consommation (Wh)", data: e.steps.map((s) => s.electricity_import_wh), borderColor: "#2563eb" },
      { label: "Ma production injectée (Wh)", data: e.steps.map((s) => s.electricity_export_wh), borderColor: "#a16207", backgroundColor: "#eab30833", fill: true },
    ],
  };
  if (charts.me) { charts.me.data = data; charts.me.update(); return; }
  charts.me = new Chart($("chart-me-energy"), {
    type: "line", data,
    options: chartOptions({ scales: { x: { title: { display: true, text: "heure (Paris)" } }, y: { beginAtZero: true, title: { display: true, text: "Wh" } } } }),
  });
}

async function myMandates() {
  const m = await api(`/v1/accounts/${me}/mandates`);
  const list = $("me-mandates");
  list.replaceChildren();
  for (const row of m.mandates) {
    const li = document.createElement("li");
    li.className = `mandate ${row.active ? "active" : "revoked"}`;
    // Operation ids are uint256 (often a hash of the operation's name): shortened, whole in the title.
    const operation = row.operation_id.length > 12 ? `${row.operation_id.slice(0, 6)}…${row.operation_id.slice(-4)}` : row.operation_id;
    li.title = `opération ${row.operation_id}`;
    li.textContent = row.active
      ? `Opération ${operation} : au plus ${fmtM3E(row.per_day.micro)} par jour et ${fmtM3E(row.per_month.micro)} par mois, signé le ${fmtWhen(row.time)}. Révocable à tout moment (wallet energy leave).`
      : `Opération ${operation} : mandat révoqué le ${fmtWhen(row.time)}.`;
    list.append(li);
  }
  if (!m.mandates.length) { const li = document.createElement("li"); li.textContent = "Aucun mandat énergie."; list.append(li); }
}

// -- sign-in ----------------------------------------------------------------------------------------

function checkStatement(message) {
  if (message.split("\n")[3] !== SIGN_IN_STATEMENT) {
    throw new Error("Le message proposé ne dit pas ce que la page attend : ne le signez pas et rechargez la page.");
  }
  return message;
}

async function startSignIn(event) {
  event.preventDefault();
  text($("signin-error"), "");
  try {
    const n = await api(`/v1/auth/nonce?address=${encodeURIComponent($("me-address").value.trim())}`);
    $("siwe-message").value = checkStatement(n.message);
    $("signin-finish").hidden = false;
  } catch (e) { text($("signin-error"), e.message); }
}

async function finishSignIn(event) {
  if (event) event.preventDefault();
  text($("signin-error"), "");
  try {
    const s = await api("/v1/auth/siwe", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ message: $("siwe-message").value, signature: $("siwe-signature").value.trim() }),
    });
    await showMe(s.address);
  } catch (e) { text($("signin-error"), e.message); }
}

// EIP-1193: the browser wallet gives the address and signs the message (personal_sign).
async function browserWallet() {
  text($("signin-error"), "");
  try {
    const [address] = await window.ethereum.request({ method: "eth_requestAccounts" });
    if (!address) throw new Error("Le portefeuille n'a donné aucune adresse.");
    $("me-address").value = address;
    const n = await api(`/v1/auth/nonce?address=${encodeURIComponent(address)}`);
    $("siwe-message").value = checkStatement(n.message);
    $("siwe-signature").value = await window.ethereum.request({ method: "personal_sign", params: [n.message, address] });
    await finishSignIn();
  } catch (e) {
    const refused = e && e.code === 4001;
    text($("signin-error"), refused ? "Signature refusée dans le portefeuille : rien n'a été envoyé." : e.message);
  }
}

async function restoreSession() {
  try { const s = await api("/v1/auth/session"); await showMe(s.address); } catch (_) { /* not signed in */ }
}

// -- the town-hall screen -----------------------------------------------------------------------------

function startMairie() {
  document.body.classList.add("mairie");
  $("mairie").hidden = false;
  const tick = () => text($("mairie-clock"), new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, weekday: "long", day: "numeric", month: "long", hour: "2-digit", minute: "2-digit" }).format(new Date()));
  tick();
  setInterval(tick, 15000);
}

document.addEventListener("DOMContentLoaded", () => {
  if (MAIRIE) startMairie();
  $("category").addEventListener("change", loadMerchants);
  $("request-form").addEventListener("submit", paymentRequest);
  $("signin-start").addEventListener("submit", startSignIn);
  $("signin-finish").addEventListener("submit", finishSignIn);
  $("me-month").addEventListener("change", setStatementLink);
  $("energy-day").addEventListener("change", () => {
    if (!$("energy-day").value) return;
    energyDay = $("energy-day").value;
    loadEnergy(energyDay);
  });
  $("logout").addEventListener("click", async () => {
    await fetch("/v1/auth/logout", { method: "POST", credentials: "same-origin" });
    $("me").hidden = true; $("signin").hidden = false; me = null;
  });
  if (window.ethereum) { $("browser-wallet").hidden = false; $("browser-wallet").addEventListener("click", browserWallet); }
  const loads = [loadToken(), loadSupplyChart(), loadRecentPayments(), loadCommons(), loadMerchants(), loadEnergy(null)];
  // The town-hall screen shows nothing private: no session is restored there.
  if (!MAIRIE) loads.push(restoreSession());
  Promise.allSettled(loads).then(startFeed);
});
