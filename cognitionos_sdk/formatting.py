"""Costs and sizes for people: dollars and cents, two significant digits below a cent, never "$0.000000"."""

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


def human_bytes(size: int) -> str:
    """1536 -> "1.5 KB"; under a kilobyte in bytes."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} TB"
