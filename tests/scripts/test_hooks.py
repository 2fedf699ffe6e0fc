"""The git hooks of scripts/hooks (installed by `scripts/bootstrap.sh dev`): the commit message convention."""

import subprocess
from pathlib import Path

import pytest

HOOK = Path(__file__).parents[2] / "scripts" / "hooks" / "commit-msg"


def check(message: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    file = tmp_path / "COMMIT_EDITMSG"
    file.write_text(message)
    return subprocess.run([str(HOOK), str(file)], capture_output=True, text=True)


@pytest.mark.parametrize(
    "message",
    [
        "console: renew an expired token once, not once per parallel call\n\nWhy, wrapped at 72.\n",
        "tool-runner: serve its tools at /api/v1/tools\n",
        "Merge branch 'topic'\n",
        "ai-runtime: give the Messages API tools\n\nA path alone on its line may pass the width:\nhttps://docs.anthropic.com/en/api/messages-count-tokens-and-a-long-path-after-it\n",
    ],
)
def test_a_message_that_follows_the_convention_passes(message: str, tmp_path: Path) -> None:
    checked = check(message, tmp_path)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(
    ("message", "says"),
    [
        ("gateway: " + "x" * 91 + "\n", "the subject is 100 characters; at most 72"),
        ("Fix the proxy so that it streams\n", 'the subject is not "area: summary"'),
        ("proxy: stream the upstream\n", "'proxy' is not an area"),
        ("gateway: stream the upstream.\n", "full stop"),
        ("gateway: stream the upstream\nwhy\n", "the second line is not blank"),
        ("gateway: stream the upstream\n\n" + "word " * 20 + "\n", "line 3 is 100 characters"),
    ],
)
def test_a_message_that_does_not_is_refused_and_told_why(message: str, says: str, tmp_path: Path) -> None:
    checked = check(message, tmp_path)
    assert checked.returncode == 1 and says in checked.stderr
