"""The treasury: bank statements in (camt.053/054), deposits minted once, SEPA payouts out
(pain.001), the reserve reconciled with the bank to the cent. Rules in `ledger.domain.treasury`."""
