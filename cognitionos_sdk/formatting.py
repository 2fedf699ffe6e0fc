"""Costs for people: dollars and cents, two significant digits below a cent, never "$0.000000"."""

from decimal import Decimal


def usd(amount: float | Decimal | None) -> str:
    if amount is None:
        return "—"
    value = float(amount)
    if value == 0:
        return "$0"
    if abs(value) >= 0.01:
        return f"${value:,.2f}"
    if abs(value) < 0.0001:
        return "< $0.0001"
    return f"${float(f'{value:.2g}'):.6f}".rstrip("0")
