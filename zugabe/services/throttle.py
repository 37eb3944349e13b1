"""Throttling of failed sign-ins, per account and per client address.

Counted with ``limits`` (the library under flask-limiter) in a moving window; only
failures count, so a person who types the password right is never slowed down. The
storage is ``rate_limit_storage``: ``memory://`` counts per process, a shared one
(``redis://…``) across workers.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from zugabe.config import Settings
from zugabe.errors import TooManyAttempts


class SignInThrottle:
    def __init__(self, settings: Settings) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage))
        self._per_account = parse(settings.login_limit_account)
        self._per_address = parse(settings.login_limit_address)

    def check(self, username: str, address: str | None) -> None:
        """Refuse (429) while the account or the address has used up its failures."""
        for limit, key, what in self._keys(username, address):
            if not self._limiter.test(limit, what, key):
                reset = self._limiter.get_window_stats(limit, what, key).reset_time
                minutes = max(1, math.ceil((reset - time.time()) / 60))
                raise TooManyAttempts(
                    f"too many failed sign-ins for this {what}; try again in {minutes} "
                    f"minute{'s' if minutes > 1 else ''}",
                    retry_after_s=minutes * 60,
                )

    def failed(self, username: str, address: str | None) -> None:
        for limit, key, what in self._keys(username, address):
            self._limiter.hit(limit, what, key)

    def _keys(self, username: str, address: str | None) -> list[tuple[RateLimitItem, str, str]]:
        keys = [(self._per_account, username.strip().lower()[:100], "account")]
        if address:
            keys.append((self._per_address, address, "address"))
        return keys
