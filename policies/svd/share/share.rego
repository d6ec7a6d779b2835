# METADATA
# title: svdhub data-sharing decision
# description: |
#   Decides, for one event, every candidate (agreement, recipient) pair: an
#   agreement whose disclosers include the event's authority and whose event
#   types include the event's type, with each of its recipients. Implements
#   the global rules of docs/policy.md, which no agreement can override.
#
#   Default deny holds: a pair is allowed only when no denial reason applies,
#   every reason is listed when it is denied, a denied pair carries no field
#   obligations, and an allowed pair carries only the fields its agreement
#   names with an action other than drop. Input and data that are missing or
#   malformed deny rather than allow.
# related_resources:
#   - description: the contract this policy implements
#     ref: docs/policy.md
package svd.share

# METADATA
# description: |
#   Set of [agreement_id, recipient] pairs that the event is a candidate for:
#   the agreement's disclosers contain input.event.authority, its event_types
#   contain input.event.event_type, and the recipient is one of its recipients.
candidates contains [agreement_id, recipient] if {
	some agreement_id, agreement in data.svd.agreements
	input.event.authority in agreement.disclosers
	input.event.event_type in agreement.event_types
	some recipient in agreement.recipients
}

# METADATA
# description: |
#   One decision per candidate pair, keyed "<agreement_id>/<recipient>":
#   allow (true iff reasons is empty), the sorted reasons, the agreement's
#   lawful basis and purpose, the bundle revision, and the obligations: the
#   fields (empty when denied) and, for an allowed pair under an agreement
#   that sets min_k, the k-anonymity its record-level shares must meet. No
#   candidates gives {}.
decisions[key] := decision if {
	some [agreement_id, recipient] in candidates
	key := concat("/", [agreement_id, recipient])
	agreement := data.svd.agreements[agreement_id]
	reasons := sort({reason |
		some [denied_agreement, denied_recipient, reason] in denials
		denied_agreement == agreement_id
		denied_recipient == recipient
	})
	allow := count(reasons) == 0
	decision := {
		"allow": allow,
		"reasons": reasons,
		"agreement_id": agreement_id,
		"recipient": recipient,
		"lawful_basis": agreement.lawful_basis,
		"purpose": agreement.purpose,
		"revision": _revision,
		"obligations": object.union(
			{"fields": _obligations(agreement_id, recipient, allow)},
			_k_anonymity(agreement, allow),
		),
	}
}

# METADATA
# scope: document
# description: |
#   Set of [agreement_id, recipient, reason] triples: every reason each
#   candidate pair is denied. A pair absent from this set is allowed. A
#   reason is {"code", "message"}: the code is the denying rule's
#   custom.code, read back with rego.metadata.rule(), so the enforcer and
#   the audit never parse the message.

# METADATA
# description: The event's authority is not listed in parties.authorities.
# custom:
#   code: unknown_authority
#   reason: unknown authority <id>
denials contains [agreement_id, recipient, reason] if {
	some [agreement_id, recipient] in candidates
	not _known_authority
	reason := {
		"code": rego.metadata.rule().custom.code,
		"message": sprintf("unknown authority %v", [input.event.authority]),
	}
}

# METADATA
# description: The recipient is not listed in parties.recipients.
# custom:
#   code: unknown_recipient
#   reason: unknown recipient <id>
denials contains [agreement_id, recipient, reason] if {
	some [agreement_id, recipient] in candidates
	not _known_recipient(recipient)
	reason := {
		"code": rego.metadata.rule().custom.code,
		"message": sprintf("unknown recipient %v", [recipient]),
	}
}

# METADATA
# description: input.today is missing or not a YYYY-MM-DD date, so validity cannot be checked.
# custom:
#   code: invalid_today
#   reason: today <value> is not a YYYY-MM-DD date
denials contains [agreement_id, recipient, reason] if {
	some [agreement_id, recipient] in candidates
	not _valid_today
	reason := {
		"code": rego.metadata.rule().custom.code,
		"message": sprintf("today %v is not a YYYY-MM-DD date", [object.get(input, "today", null)]),
	}
}

# METADATA
# description: The agreement is not yet in force (input.today is before valid_from).
# custom:
#   code: not_yet_in_force
#   reason: agreement <id> is not in force until <valid_from>
denials contains [agreement_id, recipient, reason] if {
	some [agreement_id, recipient] in candidates
	valid_from := data.svd.agreements[agreement_id].valid_from
	_valid_today
	input.today < valid_from
	reason := {
		"code": rego.metadata.rule().custom.code,
		"message": sprintf("agreement %v is not in force until %v", [agreement_id, valid_from]),
	}
}

# METADATA
# description: The agreement has passed its review date (input.today is after review_by).
# custom:
#   code: past_review_date
#   reason: agreement <id> passed its review date <review_by>
denials contains [agreement_id, recipient, reason] if {
	some [agreement_id, recipient] in candidates
	review_by := data.svd.agreements[agreement_id].review_by
	_valid_today
	input.today > review_by
	reason := {
		"code": rego.metadata.rule().custom.code,
		"message": sprintf("agreement %v passed its review date %v", [agreement_id, review_by]),
	}
}

# METADATA
# description: |
#   The agreement names a field of the event's record type classified
#   direct_identifier or free_text with an action other than drop.
# custom:
#   code: never_shared_field
#   reason: field <name> is classified <classification> and is never shared
denials contains [agreement_id, recipient, reason] if {
	some [agreement_id, recipient] in candidates
	some field, action in data.svd.agreements[agreement_id].fields
	classification := data.svd.classifications[input.event.record_type][field]
	classification in _never_shared
	not _is_drop(action)
	reason := {
		"code": rego.metadata.rule().custom.code,
		"message": sprintf("field %v is classified %v and is never shared", [field, classification]),
	}
}

# METADATA
# description: |
#   The agreement names a field of the event's record type classified
#   pseudonym with an action other than drop or pseudonymise for the
#   recipient: a partnership-wide pseudonym would let recipients link.
# custom:
#   code: unscoped_pseudonym
#   reason: field <name> is a pseudonym and is shared only re-keyed for the recipient
denials contains [agreement_id, recipient, reason] if {
	some [agreement_id, recipient] in candidates
	some field, action in data.svd.agreements[agreement_id].fields
	data.svd.classifications[input.event.record_type][field] == "pseudonym"
	not _is_drop(action)
	not _rekeyed(action)
	reason := {
		"code": rego.metadata.rule().custom.code,
		"message": sprintf("field %v is a pseudonym and is shared only re-keyed for the recipient", [field]),
	}
}

# METADATA
# description: |
#   The agreement is scoped to the recipient's area, the recipient is local,
#   the event is not a retraction, and the event's lad_cd is not the
#   recipient's area (a missing lad_cd is outside). A retraction carries no
#   place, only the id of the event it withdraws and a reason code, so it
#   goes to every recipient of the agreement: the hub keeps no record of who
#   received the original, and a recipient that never did ignores it.
# custom:
#   code: outside_recipient_area
#   reason: event is outside <recipient>'s area
denials contains [agreement_id, recipient, reason] if {
	some [agreement_id, recipient] in candidates
	data.svd.agreements[agreement_id].scope == "recipient_area"
	_local(recipient)
	input.event.event_type != "RETRACTION"
	not _in_area(recipient)
	reason := {
		"code": rego.metadata.rule().custom.code,
		"message": sprintf("event is outside %v's area", [recipient]),
	}
}

default _revision := null

_revision := data.svd.meta.revision

_never_shared := {"direct_identifier", "free_text"}

_known_authority if input.event.authority in object.keys(data.svd.parties.authorities)

_known_recipient(recipient) if recipient in object.keys(data.svd.parties.recipients)

_valid_today if {
	is_string(input.today)
	regex.match(`^\d{4}-\d{2}-\d{2}$`, input.today)
}

_is_drop(action) if action.action == "drop"

_rekeyed(action) if {
	action.action == "pseudonymise"
	action.scope == "recipient"
}

_local(recipient) if data.svd.parties.recipients[recipient].level == "local"

_in_area(recipient) if {
	is_string(input.event.lad_cd)
	input.event.lad_cd == data.svd.parties.recipients[recipient].area
}

# A denied pair shares no fields.
_obligations(_, _, false) := {}

# An allowed pair under an agreement with min_k carries it: the enforcer
# generalises, holds back or withholds each record-level share to meet it.
_k_anonymity(agreement, true) := {"min_k": agreement.min_k} if is_number(agreement.min_k)

else := {}

_k_anonymity(_, false) := {}

# An allowed pair shares the agreement's fields except those it drops.
_obligations(agreement_id, recipient, true) := {field: _field_obligation(field, action, recipient) |
	some field, action in data.svd.agreements[agreement_id].fields
	not _is_drop(action)
}

# The sensitive-location rule: for a local recipient, a geography field finer
# than MSOA on a domestic-abuse, sexual-offence or at-home event is coarsened
# to MSOA; otherwise the agreement's action stands. police.uk's combined
# "violence and sexual offences" category may be a sexual offence, so it
# counts as one.
_field_obligation(field, action, recipient) := {"action": "generalise", "level": "msoa"} if {
	_local(recipient)
	_sensitive_location
	_geo_field(field)
	_finer_than_msoa(action)
} else := action

_sensitive_location if input.event.domestic_abuse == true

_sensitive_location if input.event.sexual_offence == true

_sensitive_location if input.event.offence_group == "VIOLENCE_AND_SEXUAL_OFFENCES"

_sensitive_location if input.event.location_type == "HOME"

_geo_field("geo")

_geo_field(field) if endswith(field, "_geo")

_finer_than_msoa(action) if action.action == "keep"

_finer_than_msoa(action) if {
	action.action == "generalise"
	action.level == "lsoa"
}
