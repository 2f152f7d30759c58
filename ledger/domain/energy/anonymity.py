"""The district's privacy threshold for energy figures: a figure made from fewer homes than
`MIN_HOMES` is never published (k-anonymity with k = 5), whether by the API's district steps or
by the totals a settlement commits on chain."""

from __future__ import annotations

MIN_HOMES = 5
"""The fewest homes a published energy figure may be made from."""
