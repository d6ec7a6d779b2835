"""Realistic, seeded, clearly SYNTHETIC West Midlands extracts, each in its source's own format.

Called by ``svdhub generate``, by the demo and by tests to give every
connector something to read. :func:`generate` writes six extracts and a
``manifest.json`` into one folder:

================================  ==============================================================
``wmp_crime.csv``                 West Midlands Police violent crime (UTF-8, LF)
``uhb_istv.csv``                  University Hospitals Birmingham ED ISTV (UTF-8, LF)
``swbh_istv.csv``                 Sandwell and West Birmingham ED ISTV (Windows-1252, CRLF,
                                  local headers and codes, ``SURNAME, Forename``)
``wmas_callouts.csv``             West Midlands Ambulance Service violence call-outs (UTF-8, LF)
``youth_service.sqlite``          Birmingham City Council youth service referrals (table
                                  ``referrals``; nine in ten children live in Birmingham)
``yos_outcomes.csv``              youth justice / intervention outcomes (UTF-8, LF)
================================  ==============================================================

Contracts:

* **Nothing here is real.** Every CSV starts with the comment line from
  :func:`synthetic_marker`; the SQLite file has a ``synthetic_marker(note)``
  table holding the same line; the manifest says ``"synthetic": true``. People
  are random combinations of common UK names; NHS numbers come from the
  ``999`` range the NHS keeps for testing (with valid check digits), so they
  cannot be anyone's; with the default lookup, LSOA codes are the synthetic
  ``E019xxxxx`` ones. The free text (``MOText``, ``LocationDescription``,
  ``CrewNotes``, ``notes``...) imitates the personal detail real free text
  carries, so it must be treated as if it were real: never shared.
* **Deterministic.** The same ``seed``, ``days``, ``start`` and lookup give
  byte-identical files. Only ``random.Random`` instances seeded from ``seed``
  are used; never the global generator or the clock.
* **Realistic where the views depend on it**, and measurably so (tests check
  each): about 10% of LSOAs hold at least 40% of incidents (rank-based Zipf
  weights over a seeded shuffle, Birmingham boosted); at least 45% of assaults
  fall between 20:00 and 04:00 and Friday and Saturday nights are the busiest;
  at least 40% of victims are under 25; 35-50% of ED attendances have no
  matching police crime, and every other one matches exactly one crime with
  the same victim (forename, surname, date of birth), the same LSOA and an
  assault time within 3 hours of ``CommittedDateTime``; outcomes follow
  referrals with consent by 14-70 days and are written only when dated before
  the end of the period. Volumes per day (police 120, UHB 15, SWBH 10,
  ambulance 16, youth referrals 5, a quarter of them by ED navigators linked
  to an attendance) scale linearly with ``days``.
* Times are local UK wall-clock times without a zone, as source systems
  export them. Rows are in recorded/arrival/call/referral order, so event
  times are not monotonic. Crimes may be recorded after the period ends: the
  extract is as at a time after its last record. About 3% of crimes have a
  ``RecordVersion`` 2 row (a reclassification or correction) recorded later
  under the same ``CrimeReference``, and about 0.5% more one that moves the
  crime to another local authority's LSOA. Every crime row has a ``Status``
  (``Active``); about 1 crime in 200 is later withdrawn, by a copy of its
  latest version marked ``Deleted`` or ``Duplicate`` and recorded later.
  About 1 referral in 25 is later deleted: ``youth_service.sqlite`` logs it in
  ``referral_deletions`` (referral_id, deleted_at, reason); the referral stays
  in ``referrals``. These are drawn last, from a stream of their own, so the
  rest of each file is what it was before they were added.

One module per concern; each imports only modules listed above it:

==============  ==============================================================
``vocabulary``  each source's codes, and the weight of every value drawn
``free_text``   names, places and free-text templates
``population``  who, where and when: people, NHS numbers, hotspot LSOAs, the clock
``records``     crimes, ED attendances, referrals and outcomes as the model draws them
``manifest``    the file names, the synthetic marker and ``manifest.json``
``model``       every source's records for one run, in a fixed order of draws
``writers``     each source's file format, and :func:`generate`
==============  ==============================================================

The package re-exports what other code uses: :func:`generate`, the
:class:`Manifest` it returns, the file names and headers, the marker line and
the NHS check digit.
"""

from edge.synthetic.manifest import (
    MANIFEST,
    OWNERS,
    SWBH_ISTV,
    UHB_ISTV,
    WMAS_CALLOUTS,
    WMP_CRIME,
    YOS_OUTCOMES,
    YOUTH_SERVICE,
    Manifest,
    synthetic_marker,
)
from edge.synthetic.population import nhs_check_digit
from edge.synthetic.writers import (
    REFERRALS_COLUMNS,
    SWBH_HEADER,
    UHB_HEADER,
    WMAS_HEADER,
    WMP_HEADER,
    YOS_HEADER,
    generate,
)

__all__ = [
    "MANIFEST",
    "OWNERS",
    "REFERRALS_COLUMNS",
    "SWBH_HEADER",
    "SWBH_ISTV",
    "UHB_HEADER",
    "UHB_ISTV",
    "WMAS_CALLOUTS",
    "WMAS_HEADER",
    "WMP_CRIME",
    "WMP_HEADER",
    "YOS_HEADER",
    "YOS_OUTCOMES",
    "YOUTH_SERVICE",
    "Manifest",
    "generate",
    "nhs_check_digit",
    "synthetic_marker",
]
