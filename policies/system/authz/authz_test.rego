package system.authz_test

import data.system.authz

# Fixtures: two known tokens, known by their SHA-256 only, as the stack writes them.

enforcer_token := "enforcer-token-for-tests"

ops_token := "ops-token-for-tests"

identities := {
	crypto.sha256(enforcer_token): "enforcer",
	crypto.sha256(ops_token): "ops",
}

request(method, path, token) := {"method": method, "path": path, "identity": token, "params": {}}

allowed(method, path, token) if {
	authz.allow with input as request(method, path, token) with data.system.identities as identities
}

decisions := ["v1", "data", "svd", "share", "decisions"]

revision := ["v1", "data", "svd", "meta", "revision"]

# The enforcer

test_enforcer_queries_its_rules_allowed if {
	allowed("POST", decisions, enforcer_token)
	allowed("POST", revision, enforcer_token)
	allowed("POST", ["v1", "data", "svd", "parties"], enforcer_token)
	allowed("POST", ["v1", "data", "svd", "agreements"], enforcer_token)
}

test_enforcer_reading_other_data_denied if {
	not allowed("POST", ["v1", "data"], enforcer_token)
	not allowed("POST", ["v1", "data", "svd"], enforcer_token)
	not allowed("POST", ["v1", "data", "svd", "share"], enforcer_token)
	not allowed("POST", ["v1", "data", "system", "identities"], enforcer_token)
	not allowed("GET", decisions, enforcer_token)
	not allowed("GET", ["health"], enforcer_token)
	not allowed("POST", ["v1", "data", "svd", "health", "allow"], enforcer_token)
}

test_enforcer_writes_denied if {
	not allowed("PUT", decisions, enforcer_token)
	not allowed("PATCH", decisions, enforcer_token)
	not allowed("DELETE", decisions, enforcer_token)
	not allowed("PUT", ["v1", "data", "x"], enforcer_token)
	not allowed("PUT", ["v1", "policies", "x"], enforcer_token)
	not allowed("DELETE", ["v1", "policies", "svd", "share", "share.rego"], enforcer_token)
}

test_enforcer_other_apis_denied if {
	not allowed("GET", ["v1", "policies"], enforcer_token)
	not allowed("POST", ["v1", "query"], enforcer_token)
	not allowed("POST", ["v1", "compile"], enforcer_token)
	not allowed("GET", ["v1", "config"], enforcer_token)
	not allowed("GET", ["v1", "status"], enforcer_token)
	not allowed("POST", [], enforcer_token)
}

# The ops token

test_ops_reads_health_and_revision_allowed if {
	allowed("GET", ["health"], ops_token)
	allowed("GET", revision, ops_token)
	allowed("POST", revision, ops_token)
}

test_ops_evaluates_the_health_probe_allowed if {
	allowed("POST", ["v1", "data", "svd", "health", "allow"], ops_token)
	allowed("GET", ["v1", "data", "svd", "health", "bundle"], ops_token)
	allowed("POST", ["v1", "data", "svd", "health", "no_such_rule"], ops_token)
}

test_ops_decisions_and_writes_denied if {
	not allowed("POST", decisions, ops_token)
	not allowed("GET", decisions, ops_token)
	not allowed("POST", ["v1", "data", "svd"], ops_token)
	not allowed("POST", ["v1", "data", "svd", "parties"], ops_token)
	not allowed("PUT", ["v1", "data", "svd", "health", "allow"], ops_token)
	not allowed("DELETE", ["v1", "data", "svd", "health"], ops_token)
	not allowed("PUT", revision, ops_token)
	not allowed("GET", ["v1", "data", "svd", "agreements"], ops_token)
	not allowed("PUT", ["v1", "data", "x"], ops_token)
	not allowed("PUT", ["v1", "policies", "x"], ops_token)
	not allowed("GET", ["v1", "config"], ops_token)
}

# Anyone else

test_no_token_denied if {
	not authz.allow with input as {"method": "GET", "path": ["health"], "params": {}}
		with data.system.identities as identities
	not authz.allow with input as {"method": "POST", "path": decisions, "params": {}}
		with data.system.identities as identities
}

test_unknown_token_denied if {
	not allowed("POST", decisions, "connector-wmp-token")
	not allowed("GET", ["health"], "connector-wmp-token")
	not allowed("PUT", ["v1", "data", "x"], "connector-wmp-token")
}

test_token_hash_is_not_a_token_denied if {
	not allowed("POST", decisions, crypto.sha256(enforcer_token))
}

test_unknown_role_denied if {
	not authz.allow with input as request("POST", decisions, "t")
		with data.system.identities as {crypto.sha256("t"): "admin"}
}

test_no_identities_denied if {
	not authz.allow with input as request("POST", decisions, enforcer_token)
}

test_role_named_by_token if {
	authz.role == "ops" with input as request("GET", ["health"], ops_token)
		with data.system.identities as identities
}
