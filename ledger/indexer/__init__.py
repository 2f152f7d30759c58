"""The chain indexer: raw JSON-RPC (no web3), fast decoders, exact SQL under reorgs and crashes.

rpc (batched JSON-RPC, retries, adaptive log ranges) -> sync (backfill, live, reorgs) ->
ledger.db.store (one transaction per batch with the cursor). `reconcile` checks the result
against balanceOf/totalSupply on chain.
"""
