"""Names and free text: every name fits the SWBH extract's encoding."""

from edge.synthetic import free_text


def test_name_lists_fit_windows_1252() -> None:
    for pools in free_text.NAMES.values():
        for names in pools.values():
            for name in names:
                name.encode("cp1252")
