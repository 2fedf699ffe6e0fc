"""How a run's result was checked, told beside its status so that nothing unchecked passes for fact.

- `tested`: code the run wrote ran in the sandbox and its checks passed (exit 0, with asserts or printed results);
- `reviewed`: a critic approved the work it was shown, with its reasons (a critic shown no results checked nothing);
- `unverified`: neither. Finished, but nothing checked it.
"""

from collections.abc import Iterable
from typing import Any, Literal

Verification = Literal["tested", "reviewed", "unverified"]
VERIFICATIONS: tuple[Verification, ...] = ("tested", "reviewed", "unverified")


def checks_passed(*, code: str, exit_code: int | None, stdout: str) -> bool:
    """Code that exited 0 and checked something: an assert, or results it printed. A bare definition that runs
    without a word proves nothing."""
    return exit_code == 0 and ("assert" in code or bool(stdout.strip()))


def verification_of(outputs: Iterable[tuple[str, dict[str, Any] | None]]) -> Verification:
    """From the (agent role, output) of a run's succeeded tasks."""
    reviewed = False
    for role, output in outputs:
        if not output:
            continue
        if output.get("checks_passed") is True:
            return "tested"
        saw_results = output.get("reviewed", True) != []  # outputs from before the field: as before
        if role == "critic" and output.get("approved") is True and str(output.get("feedback") or "").strip():
            reviewed = reviewed or saw_results
    return "reviewed" if reviewed else "unverified"
