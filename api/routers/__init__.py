"""The API's routers (thin: parse, call a service, answer)."""
