"""Throttling of failed sign-ins, per account and per client address.

Counted with ``limits`` (the library under flask-limiter) in a moving window; only
failures count, so a person who types the password right is never slowed down. Where:
``rate_limit_storage``. ``store`` (the default) counts in ZUGABE's store, so every worker
process of the server and every restart sees the same failures; a ``limits`` storage URI
counts elsewhere (``memory://``: per process; ``redis://…``: in Redis).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MovingWindowSupport, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from zugabe.config import Settings
from zugabe.errors import StorageError, TooManyAttempts
from zugabe.storage.contract import ThrottleStore

IN_THE_STORE = "store"


class StoreWindows(Storage, MovingWindowSupport):
    """``limits``' moving windows kept in the store (``ThrottleStore``).

    Only the moving window is offered (the sign-in throttle's strategy): the fixed-window
    counters (``incr``, ``get``, ``get_expiry``) are not.
    """

    STORAGE_SCHEME = None  # made with the store at hand, not from a URI

    def __init__(self, store: ThrottleStore) -> None:
        super().__init__()
        self.store = store

    @property
    def base_exceptions(self) -> type[Exception]:
        return StorageError

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        return self.store.add_attempts(key, time.time(), amount, limit, expiry)

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        oldest, count = self.store.attempts_since(key, now - expiry)
        return (now if oldest is None else oldest), count

    def clear(self, key: str) -> None:
        self.store.forget_attempts(key)

    def reset(self) -> None:
        self.store.forget_attempts()

    def check(self) -> bool:
        self.store.attempts_since("", time.time())
        return True

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise NotImplementedError("fixed windows are not kept in the store")

    def get(self, key: str) -> int:
        raise NotImplementedError("fixed windows are not kept in the store")

    def get_expiry(self, key: str) -> float:
        raise NotImplementedError("fixed windows are not kept in the store")


class SignInThrottle:
    def __init__(self, settings: Settings, store: ThrottleStore) -> None:
        uri = settings.rate_limit_storage
        storage = StoreWindows(store) if uri == IN_THE_STORE else storage_from_string(uri)
        self._limiter = MovingWindowRateLimiter(storage)
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
