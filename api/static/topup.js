// Buying M3E by bank transfer, after sign-in: IBAN, amount, RF reference and the EPC QR code.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  async function showTopup(event) {
    event.preventDefault();
    const amount = $("topup-amount").value.trim().replace(",", ".");
    const error = $("signin-error");
    error.textContent = "";
    try {
      const response = await fetch(`/v1/treasury/topup?amount=${encodeURIComponent(amount)}`, { credentials: "same-origin" });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
      $("topup-eur").textContent = `${body.amount_eur.replace(".", ",")} €`;
      $("topup-name").textContent = body.name;
      $("topup-iban").textContent = body.iban.replace(/(.{4})/g, "$1 ").trim();
      $("topup-ref").textContent = body.reference_grouped;
      $("topup-qr").src = `/v1/treasury/topup.svg?amount=${encodeURIComponent(amount)}`;
      $("topup-out").hidden = false;
    } catch (e) { error.textContent = e.message; }
  }
  document.addEventListener("DOMContentLoaded", () => {
    const form = $("topup-form");
    if (form) form.addEventListener("submit", showTopup);
  });
})();
