package svd.health_test

import data.svd.health

test_probe_allowed if health.allow with input as {"probe": "svdhub"}

test_other_probe_denied if not health.allow with input as {"probe": "someone-else"}

test_missing_input_denied if not health.allow

test_bundle_named if health.bundle == "svdhub"
