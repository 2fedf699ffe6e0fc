"""A per-upstream circuit breaker: closed -> open after N consecutive failures -> half-open trial."""

import time
from dataclasses import dataclass, field
from typing import Literal

CircuitState = Literal["closed", "open", "half_open"]


@dataclass(kw_only=True)
class CircuitBreaker:
    failure_threshold: int
    reset_seconds: float
    state: CircuitState = "closed"
    consecutive_failures: int = 0
    opened_at: float = 0.0
    _trial_in_flight: bool = field(default=False, repr=False)

    def allow_request(self, now: float | None = None) -> bool:
        """May a request go upstream now? In half-open state exactly one trial request goes through."""
        now = time.monotonic() if now is None else now
        if self.state == "closed":
            return True
        if self.state == "open" and now - self.opened_at >= self.reset_seconds:
            self.state = "half_open"
            self._trial_in_flight = False
        if self.state == "half_open" and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def retry_after_seconds(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        return max(1, int(self.reset_seconds - (now - self.opened_at) + 0.999))

    def record_success(self) -> None:
        self.state = "closed"
        self.consecutive_failures = 0
        self._trial_in_flight = False

    def record_failure(self, now: float | None = None) -> None:
        self.consecutive_failures += 1
        if self.state == "half_open" or self.consecutive_failures >= self.failure_threshold:
            self.state = "open"
            self.opened_at = time.monotonic() if now is None else now
            self._trial_in_flight = False
