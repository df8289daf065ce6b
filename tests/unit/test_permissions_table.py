"""The permission table file itself: every role's list is loadable as it stands, and an
editing slip (an action listed twice) stops the load instead of hiding in the file."""

import pytest

from servicekit.auth import Permissions


def test_the_shipped_table_loads():
    table = Permissions.load()
    assert table.allows("quality_manager", "investigation.verify_corrective_action")
    assert not table.allows("quality_manager", "resolution.respond")


def test_an_action_listed_twice_under_a_role_is_refused():
    with pytest.raises(ValueError, match="more than once"):
        Permissions({"agent": ["intake.get_complaint", "intake.get_complaint"]})


def test_make_run_writes_its_own_random_key_beside_the_tokens_but_never_a_users(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
    import run_all

    tokens = {"AGENT_TOKEN": "t"}
    made = run_all.write_dev_tokens(tokens, tmp_path / "a", "the-random-key")
    assert "export AUTH_SECRET=the-random-key" in made.read_text().splitlines()
    given = run_all.write_dev_tokens(tokens, tmp_path / "b")
    assert "AUTH_SECRET" not in given.read_text()
