"""The district ledger's HTTP API and web page: `create_app(settings)` in api.app."""
