"""The district ledger of Lyon 3e: Monnaie du 3e (M3E) and solar sharing between neighbours."""

__version__ = "0.1.0"
