// The district's page: public figures, live payments (SSE), merchants, payment requests, sign-in.
// No build step; Chart.js comes from npm (served at /vendor/chart.umd.js).
"use strict";

const $ = (id) => document.getElementById(id);
const charts = {};
window.districtCharts = charts; // for the browser test
const CATEGORY_FR = {
  "food": "alimentation", "co-working": "co-working", "car-sharing": "autopartage", "parking": "parking",
  "concierge": "conciergerie", "retail": "commerce", "other": "autre",
};

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

// Chart values only (display); amounts stay exact strings everywhere else.
const m3e = (micro) => Number(BigInt(micro) / 10000n) / 100;

function text(el, value) { el.textContent = value; }

function setStatus(block, live) {
  if (block !== undefined) text($("status-text"), `Indexé jusqu'au bloc ${block}`);
  if (live !== undefined) $("live-dot").classList.toggle("live", live);
}

async function loadToken() {
  const t = await api("/v1/token");
  text($("supply"), t.total_supply.display);
  text($("reserve"), t.reserve.display.replace("M3E", "€"));
  text($("backing"), t.backing_ratio === null ? "—" : `${(Number(t.backing_ratio) * 100).toFixed(2)} %`);
  text($("declared"), t.declaration.digital_payments.display);
  $("declared-bar").value = Math.min(1000, Number(t.declaration.share_of_threshold) * 1000);
  text($("declared-hint"), `${(Number(t.declaration.share_of_threshold) * 100).toFixed(4)} % du seuil de déclaration (1 000 000 €)`);
  setStatus(t.indexed_block);
}

async function loadSupplyChart() {
  const s = await api("/v1/token/supply-history?limit=200");
  const labels = s.points.map((p) => `bloc ${p.block}`);
  const data = {
    labels,
    datasets: [
      { label: "Monnaie émise (M3E)", data: s.points.map((p) => m3e(p.total_supply.micro)), borderColor: "#1d2433", stepped: true },
      { label: "Réserve (€)", data: s.points.map((p) => m3e(p.reserve.micro)), borderColor: "#15803d", borderDash: [6, 4], stepped: true },
    ],
  };
  if (charts.supply) { charts.supply.data = data; charts.supply.update(); return; }
  charts.supply = new Chart($("chart-supply"), {
    type: "line", data,
    options: { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { position: "bottom" } } },
  });
}

const perMerchant = new Map();
const seenPayments = new Set();

function merchantChart() {
  const labels = [...perMerchant.keys()];
  const values = labels.map((k) => perMerchant.get(k));
  if (!charts.merchants) {
    charts.merchants = new Chart($("chart-merchants"), {
      type: "bar",
      data: { labels, datasets: [{ label: "Payé (M3E), paiements récents", data: values, backgroundColor: "#c2410c" }] },
      options: { responsive: true, maintainAspectRatio: false, animation: false, indexAxis: "y", plugins: { legend: { position: "bottom" } } },
    });
  } else {
    charts.merchants.data.labels = labels;
    charts.merchants.data.datasets[0].data = values;
    charts.merchants.update();
  }
}

function addPayment(p, fresh) {
  const key = `${p.block}.${p.log_index}`;
  if (seenPayments.has(key)) return;
  seenPayments.add(key);
  const li = document.createElement("li");
  li.className = `payment${fresh ? " fresh" : ""}`;
  const who = document.createElement("span");
  who.textContent = `${p.kind === "refund" ? "↩ remboursement · " : ""}${p.merchant || "commerce n°" + p.merchant_id}`;
  const amount = document.createElement("strong");
  amount.textContent = p.amount.display;
  li.append(who, amount);
  li.title = `bloc ${p.block} · ${p.day}`;
  $("feed").prepend(li);
  while ($("feed").children.length > 50) $("feed").lastChild.remove();
  const name = p.merchant || `n°${p.merchant_id}`;
  const sign = p.kind === "refund" ? -1 : 1;
  perMerchant.set(name, Math.round(((perMerchant.get(name) || 0) + sign * m3e(p.amount.micro)) * 100) / 100);
  merchantChart();
}

async function loadRecentPayments() {
  const r = await api("/v1/payments/recent?limit=50");
  r.payments.slice().reverse().forEach((p) => addPayment(p, false));
  merchantChart();
}

function startFeed() {
  const source = new EventSource("/v1/feed");
  source.onopen = () => setStatus(undefined, true);
  source.onerror = () => setStatus(undefined, false);
  const onPayment = (e) => { addPayment(JSON.parse(e.data), true); scheduleRefresh(); };
  source.addEventListener("payment", onPayment);
  source.addEventListener("refund", onPayment);
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
    await Promise.allSettled([loadToken(), loadSupplyChart(), loadEnergy()]);
  }, 1000);
}

async function loadMerchants() {
  const category = $("category").value;
  const r = await api(`/v1/merchants${category ? "?category=" + encodeURIComponent(category) : ""}`);
  const list = $("merchants");
  list.replaceChildren();
  for (const m of r.merchants) {
    const li = document.createElement("li");
    const name = document.createElement("strong");
    name.textContent = m.name;
    const cat = document.createElement("div");
    cat.className = "cat";
    cat.textContent = `${CATEGORY_FR[m.category] || m.category}${m.active ? "" : " · suspendu"}`;
    li.append(name, cat);
    list.append(li);
  }
  if (!r.merchants.length) { const li = document.createElement("li"); li.textContent = "Aucun commerce dans cette catégorie."; list.append(li); }
}

const pct = (ratio) => (ratio === null || ratio === undefined ? "—" : `${(Number(ratio) * 100).toFixed(1)} %`);
const kwh = (wh) => `${(wh / 1000).toLocaleString("fr-FR", { maximumFractionDigits: 1 })} kWh`;

// Figures of fewer than 5 homes come as null (never shown): the chart leaves a gap there.
async function loadEnergy() {
  try {
    const e = await api("/v1/energy/district");
    $("energy").hidden = false;
    const t = e.totals;
    text($("energy-rate"), `Autoconsommation : ${pct(e.self_consumption_rate)} · produit ${kwh(t.production_wh)}, consommé ${kwh(t.consumption_wh)}`
      + (t.gas_wh || t.water_l ? ` · gaz ${kwh(t.gas_wh)} · eau ${t.water_l.toLocaleString("fr-FR")} L` : ""));
    const local = (iso) => new Date(iso).toLocaleTimeString("fr-FR", { hour: "2-digit", minute: "2-digit", timeZone: "Europe/Paris" });
    const data = {
      labels: e.steps.map((s) => local(s.start)),
      datasets: [
        { label: "Production solaire (Wh)", data: e.steps.map((s) => s.production_wh), borderColor: "#eab308", backgroundColor: "#eab30833", fill: true, spanGaps: false },
        { label: "Consommation (Wh)", data: e.steps.map((s) => s.consumption_wh), borderColor: "#2563eb", spanGaps: false },
        { label: "Autoconsommation (%)", data: e.steps.map((s) => (s.self_consumption_rate === null ? null : Number(s.self_consumption_rate) * 100)), borderColor: "#15803d", borderDash: [4, 3], yAxisID: "rate", spanGaps: false },
      ],
    };
    if (charts.energy) { charts.energy.data = data; charts.energy.update(); return; }
    charts.energy = new Chart($("chart-energy"), {
      type: "line", data,
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { position: "bottom" } },
        scales: { y: { beginAtZero: true, title: { display: true, text: "Wh" } },
                  rate: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: "%" } } },
      },
    });
  } catch (_) { /* no energy data published yet: the section stays hidden */ }
}

function toMicro(value) {
  const m = /^([0-9]+)(?:[.,]([0-9]{1,6}))?$/.exec(value.trim());
  if (!m) throw new Error("Montant invalide : écrivez par exemple 12,50");
  return (BigInt(m[1]) * 1000000n + BigInt((m[2] || "").padEnd(6, "0"))).toString();
}

async function paymentRequest(event) {
  event.preventDefault();
  try {
    const q = `to=${encodeURIComponent($("request-to").value.trim())}&amount=${toMicro($("request-amount").value)}`;
    const r = await api(`/v1/payment-requests?${q}`);
    text($("request-uri"), r.uri);
    $("request-qr").src = r.qr_svg;
    $("request-out").hidden = false;
  } catch (e) { alert(e.message); }
}

let me = null;
async function showMe(address) {
  me = address;
  $("signin").hidden = true;
  $("me").hidden = false;
  text($("me-who"), address);
  const b = await api(`/v1/accounts/${address}/balance`);
  text($("me-balance"), b.balance.display);
  const month = new Date().toISOString().slice(0, 7);
  $("me-statement").href = `/v1/accounts/${address}/statement.csv?month=${month}`;
  const p = await api(`/v1/accounts/${address}/payments?limit=50`);
  const body = $("me-payments");
  body.replaceChildren();
  for (const row of p.payments) {
    const tr = document.createElement("tr");
    for (const v of [row.day, row.merchant || row.merchant_id, row.ref, (row.kind === "refund" ? "+" : "−") + row.amount.display]) {
      const td = document.createElement("td"); td.textContent = v; tr.append(td);
    }
    body.append(tr);
  }
}

async function startSignIn(event) {
  event.preventDefault();
  text($("signin-error"), "");
  try {
    const n = await api(`/v1/auth/nonce?address=${encodeURIComponent($("me-address").value.trim())}`);
    $("siwe-message").value = n.message;
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

async function browserWallet() {
  try {
    const [address] = await window.ethereum.request({ method: "eth_requestAccounts" });
    $("me-address").value = address;
    const n = await api(`/v1/auth/nonce?address=${encodeURIComponent(address)}`);
    $("siwe-message").value = n.message;
    $("siwe-signature").value = await window.ethereum.request({ method: "personal_sign", params: [n.message, address] });
    await finishSignIn();
  } catch (e) { text($("signin-error"), e.message); }
}

async function restoreSession() {
  try { const s = await api("/v1/auth/session"); await showMe(s.address); } catch (_) { /* not signed in */ }
}

document.addEventListener("DOMContentLoaded", () => {
  $("category").addEventListener("change", loadMerchants);
  $("request-form").addEventListener("submit", paymentRequest);
  $("signin-start").addEventListener("submit", startSignIn);
  $("signin-finish").addEventListener("submit", finishSignIn);
  $("logout").addEventListener("click", async () => {
    await fetch("/v1/auth/logout", { method: "POST", credentials: "same-origin" });
    $("me").hidden = true; $("signin").hidden = false; me = null;
  });
  if (window.ethereum) { $("browser-wallet").hidden = false; $("browser-wallet").addEventListener("click", browserWallet); }
  Promise.allSettled([loadToken(), loadSupplyChart(), loadRecentPayments(), loadMerchants(), loadEnergy(), restoreSession()])
    .then(startFeed);
});
