"""Energy sharing, I/O side: readings ingestion and daily settlement on chain (with proofs)."""
