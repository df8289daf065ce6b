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
