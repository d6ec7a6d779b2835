"""Share: what the constructor accepts, the parser reads back."""

import pytest

from tests.fixtures.records import a_share
from wire.shares import MAX_ITEMS, MAX_VALUE_LENGTH, ShareError


def test_the_constructor_refuses_a_share_over_max_bytes() -> None:
    """Each value is within its own limits, but together they are too large to read back."""
    large = ["\x01" * MAX_VALUE_LENGTH] * MAX_ITEMS  # 64 x 256 x 6 bytes escaped
    with pytest.raises(ShareError) as caught:
        a_share(1, geo=large)
    assert (caught.value.field, caught.value.code) == ("(value)", "too_large")


def test_the_constructor_refuses_text_it_cannot_encode() -> None:
    with pytest.raises(ShareError) as caught:
        a_share(1, victim_age_band="18\ud80024")
    assert (caught.value.field, caught.value.code) == ("fields.victim_age_band", "not_utf8")
