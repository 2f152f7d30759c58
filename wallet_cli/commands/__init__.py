"""The `wallet` commands, one module per area; each exposes `register(app)` (see wallet_cli.main).

A command module imports wallet_cli.context and the library modules of wallet_cli, never
another command module nor wallet_cli.main.
"""
