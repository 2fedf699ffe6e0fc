"""Success rates with 95% intervals: Wilson's score interval for one rate, Newcombe's hybrid score interval (his
method 10) for the difference of two. Both stay inside [0, 1] and behave at 0 and n successes, where the normal
approximation does not; they are what small suites need."""

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Rate:
    passed: int
    total: int
    low: float
    high: float

    @property
    def value(self) -> float | None:
        return self.passed / self.total if self.total else None


@dataclass(frozen=True)
class Difference:
    """b's rate minus a's, with its interval; None when either side has no cases."""

    value: float | None
    low: float | None
    high: float | None


def wilson(passed: int, total: int, *, z: float = Z_95) -> Rate:
    if not 0 <= passed <= total:
        raise ValueError(f"passed ({passed}) must lie within 0 and total ({total})")
    if total == 0:
        return Rate(0, 0, 0.0, 1.0)
    p = passed / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return Rate(passed, total, max(0.0, centre - half), min(1.0, centre + half))


def newcombe(a: Rate, b: Rate) -> Difference:
    """The change from rate a to rate b (b - a) with Newcombe's hybrid score interval."""
    if not a.total or not b.total:
        return Difference(None, None, None)
    pa, pb = a.passed / a.total, b.passed / b.total
    difference = pb - pa
    low = difference - math.sqrt((pb - b.low) ** 2 + (a.high - pa) ** 2)
    high = difference + math.sqrt((b.high - pb) ** 2 + (pa - a.low) ** 2)
    return Difference(difference, max(-1.0, low), min(1.0, high))


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile (fraction 0.5 for the median)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]
