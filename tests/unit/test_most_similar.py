"""The duplicate search's shortcuts (upper bounds, stop at identical) give exactly what
the plain definition gives: the earliest earlier text with the highest ratio, if it
reaches SIMILAR."""

import uuid
from difflib import SequenceMatcher

from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.application import SIMILAR, most_similar

WORDS = st.sampled_from(["refund", "late", "rude", "staff", "退款", "态度", "差", "waited",
                         "two", "hours", "the", "a", "broken", "step"])
TEXT = st.lists(WORDS, min_size=1, max_size=8).map(" ".join)


def plain(text: str, earlier: list[tuple[uuid.UUID, str]]):
    best = max(((cid, SequenceMatcher(None, other.lower(), text.lower()).ratio())
                for cid, other in earlier), key=lambda item: item[1], default=None)
    return (best[0], round(best[1], 3)) if best and best[1] >= SIMILAR else None


@settings(max_examples=300, deadline=None)
@given(TEXT, st.lists(TEXT, max_size=12))
def test_the_shortcuts_change_nothing(text, others):
    earlier = [(uuid.uuid4(), other) for other in others]
    assert most_similar(text, earlier) == plain(text, earlier)


def test_an_identical_earlier_text_wins_and_the_earliest_of_equals_is_kept():
    first, second = uuid.uuid4(), uuid.uuid4()
    earlier = [(uuid.uuid4(), "something else entirely"), (first, "Rude staff"),
               (second, "rude staff")]
    assert most_similar("rude STAFF", earlier) == (first, 1.0)
