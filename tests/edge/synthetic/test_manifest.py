"""The manifest: what a run wrote, counted the way the files count it."""

from edge import synthetic
from edge.synthetic import Manifest
from tests.edge.synthetic.runs import CSV_FILES, DAYS, START, Run


def test_manifest_counts_equal_rows(two_weeks: Run) -> None:
    manifest = two_weeks.manifest
    assert (manifest.seed, manifest.days, manifest.start) == (1, DAYS, START)
    for name in CSV_FILES:
        assert manifest.files[name] == len(two_weeks.rows(name)), name
    assert manifest.files[synthetic.YOUTH_SERVICE] == len(two_weeks.referrals())
    attendances = len(two_weeks.rows(synthetic.UHB_ISTV)) + len(two_weeks.rows(synthetic.SWBH_ISTV))
    assert manifest.ed_attendances == attendances
    assert Manifest.read(two_weeks.out / synthetic.MANIFEST) == manifest
    assert len(two_weeks.messages) == 7
    assert all(message.startswith("wrote ") for message in two_weeks.messages)
