package svd.share_test

import data.svd.share

# Fixtures: a small, self-contained copy of the bundle data.

revision := "sha256:0000test"

today := "2026-11-28"

parties := {
	"authorities": {
		"uhb-ed": {"name": "University Hospitals Birmingham (ED)", "type": "ICB_ED"},
		"wmp": {"name": "West Midlands Police", "type": "POLICE"},
		"bcc-youth": {"name": "Birmingham youth service", "type": "LA"},
	},
	"recipients": {
		"vrp": {"name": "West Midlands VRP", "level": "regional", "area": "E12000005"},
		"csp-birmingham": {"name": "Birmingham CSP", "level": "local", "area": "E08000025"},
		"public": {"name": "Published aggregates", "level": "public"},
	},
}

classifications := {
	"Incident": {
		"incident_pseudo_id": "pseudonym",
		"assault_datetime": "quasi_identifier",
		"assault_method": "sensitive",
		"geo": "quasi_identifier",
		"location_description": "free_text",
		"victim_name": "direct_identifier",
	},
	"Referral": {
		"subject_pseudo_id": "pseudonym",
		"referral_datetime": "quasi_identifier",
		"home_geo": "quasi_identifier",
		"referrer_notes": "free_text",
	},
}

istv_fields := {
	"incident_pseudo_id": {"action": "pseudonymise", "scope": "recipient"},
	"assault_datetime": {"action": "truncate", "unit": "hour"},
	"assault_method": {"action": "keep"},
	"geo": {"action": "generalise", "level": "lsoa"},
	"location_description": {"action": "drop"},
}

istv := {
	"id": "ed-istv-csps",
	"title": "ED assault attendances (ISTV) to CSPs and the VRP",
	"disclosers": ["uhb-ed"],
	"recipients": ["vrp", "csp-birmingham"],
	"purpose": "Find and act on violence hotspots",
	"lawful_basis": "ANONYMISED",
	"event_types": ["INCIDENT"],
	"scope": "recipient_area",
	"fields": istv_fields,
	"retention_days": 395,
	"valid_from": "2025-07-01",
	"review_by": "2027-06-30",
	"dpia_ref": "DPIA-TEST-001",
}

youth := {
	"id": "youth-vrp",
	"title": "Youth referrals to the VRP and the CSP",
	"disclosers": ["bcc-youth"],
	"recipients": ["vrp", "csp-birmingham"],
	"purpose": "Evaluate referrals",
	"lawful_basis": "UKGDPR_6_1_E",
	"event_types": ["REFERRAL"],
	"fields": {
		"subject_pseudo_id": {"action": "pseudonymise", "scope": "recipient"},
		"referral_datetime": {"action": "truncate", "unit": "week"},
		"home_geo": {"action": "generalise", "level": "lsoa"},
		"referrer_notes": {"action": "drop"},
	},
	"retention_days": 1095,
	"valid_from": "2025-09-01",
	"review_by": "2027-08-31",
	"dpia_ref": "DPIA-TEST-002",
}

agreements := {"ed-istv-csps": istv, "youth-vrp": youth}

incident := {
	"authority": "uhb-ed",
	"event_type": "INCIDENT",
	"record_type": "Incident",
	"date": "2026-10-14",
	"lad_cd": "E08000025",
	"domestic_abuse": false,
	"sexual_offence": false,
	"location_type": "PUBLIC_PLACE",
}

referral := {
	"authority": "bcc-youth",
	"event_type": "REFERRAL",
	"record_type": "Referral",
	"date": "2026-10-14",
	"lad_cd": "E08000025",
	"domestic_abuse": null,
	"sexual_offence": null,
}

# The shared fields of the ISTV agreement when nothing coarsens them.
istv_shared := object.remove(istv_fields, ["location_description"])

# The ISTV agreement with one top-level key replaced.
istv_with(key, value) := object.union(object.remove(istv, [key]), {key: value})

# The ISTV agreement with the geo field's action replaced.
istv_geo(action) := istv_with("fields", object.union(object.remove(istv_fields, ["geo"]), {"geo": action}))

# The incident event with some keys replaced.
incident_with(changes) := object.union(incident, changes)

# The decisions for an event on a day, under the given agreements.
decide(agreement_set, event, day) := decisions if {
	decisions := share.decisions with data.svd.agreements as agreement_set
		with data.svd.parties as parties
		with data.svd.classifications as classifications
		with data.svd.meta.revision as revision
		with input as {"event": event, "today": day}
}

# The decision for one pair under the ISTV agreement alone.
istv_decision(agreement, event, recipient) := decide({"ed-istv-csps": agreement}, event, today)[concat("/", ["ed-istv-csps", recipient])]

msoa := {"action": "generalise", "level": "msoa"}

# Candidates

test_candidates_by_discloser_and_event_type_listed if {
	pairs := share.candidates with data.svd.agreements as agreements
		with input as {"event": incident, "today": today}
	pairs == {["ed-istv-csps", "vrp"], ["ed-istv-csps", "csp-birmingham"]}
}

test_event_type_not_covered_empty if {
	decide(agreements, incident_with({"event_type": "OUTCOME"}), today) == {}
}

test_authority_not_a_discloser_empty if {
	decide(agreements, incident_with({"authority": "wmp"}), today) == {}
}

test_no_agreements_empty if {
	decide({}, incident, today) == {}
}

# Allowed pairs

test_regional_recipient_allowed if {
	decide(agreements, incident, today)["ed-istv-csps/vrp"] == {
		"allow": true,
		"reasons": [],
		"agreement_id": "ed-istv-csps",
		"recipient": "vrp",
		"lawful_basis": "ANONYMISED",
		"purpose": "Find and act on violence hotspots",
		"revision": revision,
		"obligations": {"fields": istv_shared},
	}
}

test_local_recipient_in_area_allowed if {
	decision := decide(agreements, incident, today)["ed-istv-csps/csp-birmingham"]
	decision.allow
	decision.reasons == []
	decision.obligations.fields == istv_shared
}

test_every_candidate_decided_allowed if {
	decisions := decide(agreements, incident, today)
	object.keys(decisions) == {"ed-istv-csps/vrp", "ed-istv-csps/csp-birmingham"}
	every decision in decisions {
		decision.allow
	}
}

test_revision_stamped_on_every_decision_stamped if {
	decisions := decide(agreements, incident, "2024-01-01")
	count(decisions) == 2
	every decision in decisions {
		not decision.allow
		decision.revision == revision
	}
}

test_missing_revision_stamped_null if {
	decisions := share.decisions with data.svd.agreements as agreements
		with data.svd.parties as parties
		with data.svd.classifications as classifications
		with input as {"event": incident, "today": today}
	decisions["ed-istv-csps/vrp"].revision == null
}

test_drop_fields_excluded if {
	fields := istv_decision(istv, incident, "vrp").obligations.fields
	not "location_description" in object.keys(fields)
	every action in fields {
		action.action != "drop"
	}
}

# k-anonymity

test_min_k_carried_on_allowed_pair_allowed if {
	decision := istv_decision(istv_with("min_k", 5), incident, "csp-birmingham")
	decision.allow
	decision.obligations == {"fields": istv_shared, "min_k": 5}
}

test_min_k_absent_without_it_allowed if {
	decision := istv_decision(istv, incident, "csp-birmingham")
	not "min_k" in object.keys(decision.obligations)
}

test_min_k_not_carried_on_denied_pair_denied if {
	decision := decide({"ed-istv-csps": istv_with("min_k", 5)}, incident, "2024-01-01")["ed-istv-csps/vrp"]
	not decision.allow
	decision.obligations == {"fields": {}}
}

# Unknown parties

test_unknown_authority_denied if {
	agreement := istv_with("disclosers", ["uhb-ed", "ghost-ed"])
	decisions := decide({"ed-istv-csps": agreement}, incident_with({"authority": "ghost-ed"}), today)
	count(decisions) == 2
	every decision in decisions {
		not decision.allow
		decision.reasons == [{"code": "unknown_authority", "message": "unknown authority ghost-ed"}]
		decision.obligations == {"fields": {}}
	}
}

test_unknown_recipient_denied if {
	agreement := istv_with("recipients", ["vrp", "csp-nowhere"])
	decision := istv_decision(agreement, incident, "csp-nowhere")
	not decision.allow
	decision.reasons == [{"code": "unknown_recipient", "message": "unknown recipient csp-nowhere"}]
	decision.obligations.fields == {}
	istv_decision(agreement, incident, "vrp").allow
}

# Validity dates

test_before_valid_from_denied if {
	decision := decide(agreements, incident, "2025-06-30")["ed-istv-csps/vrp"]
	not decision.allow
	decision.reasons == [{"code": "not_yet_in_force", "message": "agreement ed-istv-csps is not in force until 2025-07-01"}]
	decision.obligations.fields == {}
}

test_on_valid_from_allowed if {
	decide(agreements, incident, "2025-07-01")["ed-istv-csps/vrp"].allow
}

test_after_review_by_denied if {
	decision := decide(agreements, incident, "2027-07-01")["ed-istv-csps/vrp"]
	not decision.allow
	decision.reasons == [{"code": "past_review_date", "message": "agreement ed-istv-csps passed its review date 2027-06-30"}]
	decision.obligations.fields == {}
}

test_on_review_by_allowed if {
	decide(agreements, incident, "2027-06-30")["ed-istv-csps/vrp"].allow
}

test_missing_today_denied if {
	decisions := share.decisions with data.svd.agreements as agreements
		with data.svd.parties as parties
		with data.svd.classifications as classifications
		with data.svd.meta.revision as revision
		with input as {"event": incident}
	decision := decisions["ed-istv-csps/vrp"]
	not decision.allow
	decision.reasons == [{"code": "invalid_today", "message": "today null is not a YYYY-MM-DD date"}]
}

test_malformed_today_denied if {
	decision := decide(agreements, incident, "2024/11/28")["ed-istv-csps/vrp"]
	not decision.allow
	decision.reasons == [{"code": "invalid_today", "message": "today 2024/11/28 is not a YYYY-MM-DD date"}]
}

# Fields that are never shared

test_direct_identifier_named_denied if {
	fields := object.union(istv_fields, {"victim_name": {"action": "keep"}})
	decision := istv_decision(istv_with("fields", fields), incident, "vrp")
	not decision.allow
	decision.reasons == [{"code": "never_shared_field", "message": "field victim_name is classified direct_identifier and is never shared"}]
	decision.obligations.fields == {}
}

test_free_text_named_denied if {
	fields := object.union(istv_fields, {"location_description": {"action": "generalise", "level": "lsoa"}})
	decision := istv_decision(istv_with("fields", fields), incident, "vrp")
	not decision.allow
	decision.reasons == [{"code": "never_shared_field", "message": "field location_description is classified free_text and is never shared"}]
}

test_never_shared_field_dropped_allowed if {
	fields := object.union(istv_fields, {"victim_name": {"action": "drop"}})
	decision := istv_decision(istv_with("fields", fields), incident, "vrp")
	decision.allow
	decision.obligations.fields == istv_shared
}

test_pseudonym_kept_denied if {
	fields := object.union(istv_fields, {"incident_pseudo_id": {"action": "keep"}})
	decision := istv_decision(istv_with("fields", fields), incident, "csp-birmingham")
	not decision.allow
	decision.reasons == [{"code": "unscoped_pseudonym", "message": "field incident_pseudo_id is a pseudonym and is shared only re-keyed for the recipient"}]
	decision.obligations.fields == {}
}

test_pseudonym_dropped_allowed if {
	fields := object.union(istv_fields, {"incident_pseudo_id": {"action": "drop"}})
	decision := istv_decision(istv_with("fields", fields), incident, "vrp")
	decision.allow
	not decision.obligations.fields.incident_pseudo_id
}

test_free_text_of_other_record_type_allowed if {
	fields := object.union(istv_fields, {"referrer_notes": {"action": "keep"}})
	decision := istv_decision(istv_with("fields", fields), incident, "vrp")
	decision.allow
	decision.obligations.fields.referrer_notes == {"action": "keep"}
}

# Recipient area

test_outside_area_denied if {
	decision := istv_decision(istv, incident_with({"lad_cd": "E08000026"}), "csp-birmingham")
	not decision.allow
	decision.reasons == [{"code": "outside_recipient_area", "message": "event is outside csp-birmingham's area"}]
	decision.obligations.fields == {}
}

test_missing_lad_cd_denied if {
	decision := istv_decision(istv, object.remove(incident, ["lad_cd"]), "csp-birmingham")
	not decision.allow
	decision.reasons == [{"code": "outside_recipient_area", "message": "event is outside csp-birmingham's area"}]
}

test_null_lad_cd_denied if {
	decision := istv_decision(istv, incident_with({"lad_cd": null}), "csp-birmingham")
	decision.reasons == [{"code": "outside_recipient_area", "message": "event is outside csp-birmingham's area"}]
}

test_local_recipient_without_area_denied if {
	no_area := json.patch(parties, [{"op": "replace", "path": "/recipients/csp-birmingham/area", "value": null}])
	decisions := share.decisions with data.svd.agreements as agreements
		with data.svd.parties as no_area
		with data.svd.classifications as classifications
		with input as {"event": incident_with({"lad_cd": null}), "today": today}
	decisions["ed-istv-csps/csp-birmingham"].reasons == [{"code": "outside_recipient_area", "message": "event is outside csp-birmingham's area"}]
}

test_retraction_without_area_reaches_local_recipient_allowed if {
	retracting := object.union(istv, {"event_types": ["INCIDENT", "RETRACTION"]})
	retraction := {"authority": "uhb-ed", "event_type": "RETRACTION", "record_type": "Retraction", "lad_cd": null}
	istv_decision(retracting, retraction, "csp-birmingham").allow
}

test_regional_recipient_outside_local_area_allowed if {
	istv_decision(istv, incident_with({"lad_cd": "E08000026"}), "vrp").allow
}

test_unscoped_agreement_outside_area_allowed if {
	unscoped := object.remove(istv, ["scope"])
	istv_decision(unscoped, incident_with({"lad_cd": "E08000026"}), "csp-birmingham").allow
}

# Sensitive locations

test_domestic_abuse_local_generalised if {
	decision := istv_decision(istv, incident_with({"domestic_abuse": true}), "csp-birmingham")
	decision.allow
	decision.obligations.fields == object.union(istv_shared, {"geo": msoa})
}

test_sexual_offence_local_generalised if {
	decision := istv_decision(istv, incident_with({"sexual_offence": true}), "csp-birmingham")
	decision.allow
	decision.obligations.fields.geo == msoa
}

test_combined_violence_and_sexual_offences_local_generalised if {
	event := incident_with({"offence_group": "VIOLENCE_AND_SEXUAL_OFFENCES"})
	decision := istv_decision(istv, event, "csp-birmingham")
	decision.allow
	decision.obligations.fields.geo == msoa
	other := istv_decision(istv, incident_with({"offence_group": "ROBBERY"}), "csp-birmingham")
	other.obligations.fields == istv_shared
}

test_home_local_generalised if {
	decision := istv_decision(istv, incident_with({"location_type": "HOME"}), "csp-birmingham")
	decision.allow
	decision.obligations.fields.geo == msoa
}

test_sensitive_local_keep_generalised if {
	decision := istv_decision(istv_geo({"action": "keep"}), incident_with({"domestic_abuse": true}), "csp-birmingham")
	decision.obligations.fields.geo == msoa
}

test_sensitive_local_other_fields_kept if {
	fields := istv_decision(istv, incident_with({"domestic_abuse": true}), "csp-birmingham").obligations.fields
	object.remove(fields, ["geo"]) == object.remove(istv_shared, ["geo"])
}

test_sensitive_regional_lsoa_kept if {
	decision := istv_decision(istv, incident_with({"domestic_abuse": true, "location_type": "HOME"}), "vrp")
	decision.allow
	decision.obligations.fields.geo == {"action": "generalise", "level": "lsoa"}
}

test_sensitive_local_msoa_kept if {
	decision := istv_decision(istv_geo(msoa), incident_with({"sexual_offence": true}), "csp-birmingham")
	decision.obligations.fields.geo == msoa
}

test_sensitive_local_lad_kept if {
	lad := {"action": "generalise", "level": "lad"}
	decision := istv_decision(istv_geo(lad), incident_with({"location_type": "HOME"}), "csp-birmingham")
	decision.obligations.fields.geo == lad
}

test_sensitive_local_region_kept if {
	region := {"action": "generalise", "level": "region"}
	decision := istv_decision(istv_geo(region), incident_with({"domestic_abuse": true}), "csp-birmingham")
	decision.obligations.fields.geo == region
}

test_not_sensitive_local_lsoa_kept if {
	decision := istv_decision(istv, incident_with({"domestic_abuse": null, "sexual_offence": null}), "csp-birmingham")
	decision.allow
	decision.obligations.fields.geo == {"action": "generalise", "level": "lsoa"}
}

test_home_geo_local_generalised if {
	decisions := decide(agreements, object.union(referral, {"location_type": "HOME"}), today)
	decisions["youth-vrp/csp-birmingham"].obligations.fields.home_geo == msoa
	decisions["youth-vrp/vrp"].obligations.fields.home_geo == {"action": "generalise", "level": "lsoa"}
}

test_home_geo_not_sensitive_kept if {
	decision := decide(agreements, referral, today)["youth-vrp/csp-birmingham"]
	decision.allow
	decision.obligations.fields == {
		"subject_pseudo_id": {"action": "pseudonymise", "scope": "recipient"},
		"referral_datetime": {"action": "truncate", "unit": "week"},
		"home_geo": {"action": "generalise", "level": "lsoa"},
	}
}

# Several reasons at once

test_multiple_reasons_sorted_denied if {
	fields := object.union(istv_fields, {"victim_name": {"action": "keep"}})
	agreement := istv_with("fields", fields)
	event := incident_with({"lad_cd": null})
	decision := decide({"ed-istv-csps": agreement}, event, "2028-01-01")["ed-istv-csps/csp-birmingham"]
	not decision.allow
	decision.reasons == [
		{"code": "never_shared_field", "message": "field victim_name is classified direct_identifier and is never shared"},
		{"code": "outside_recipient_area", "message": "event is outside csp-birmingham's area"},
		{"code": "past_review_date", "message": "agreement ed-istv-csps passed its review date 2027-06-30"},
	]
	decision.obligations.fields == {}
}

test_denials_listed_per_pair_denied if {
	triples := share.denials with data.svd.agreements as {"ed-istv-csps": istv}
		with data.svd.parties as parties
		with data.svd.classifications as classifications
		with input as {"event": incident_with({"lad_cd": "E08000026"}), "today": today}
	triples == {["ed-istv-csps", "csp-birmingham", {"code": "outside_recipient_area", "message": "event is outside csp-birmingham's area"}]}
}
