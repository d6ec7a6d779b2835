# METADATA
# title: Who may use OPA's own API
# description: |
#   OPA runs with --authentication=token --authorization=basic, so it asks
#   data.system.authz.allow about every request to its API, before anything
#   else happens. The request's bearer token is input.identity. Tokens are
#   known here only by their SHA-256 (data.system.identities: hex digest ->
#   role), which the local stack writes from its 0600 token files; no token
#   is ever held in OPA's data or in this policy.
#
#   - enforcer: evaluates, with POST, exactly the rules the enforcer uses.
#   - ops: reads /health (the stack's readiness probe), the policy
#     revision in force and the svd.health probe policy.
#
#   Everything else is refused to every token, and to requests without one:
#   the data and policy write APIs (PUT, PATCH, DELETE on /v1/data and
#   /v1/policies), listing policies, ad hoc queries, compile, config and
#   status. OPA answers a refusal with 401 "unauthorized".
package system.authz

# METADATA
# description: Default deny; a request is allowed only by a rule below.
default allow := false

# METADATA
# description: The enforcer evaluates the svd rules it uses, giving its input in a POST.
allow if {
	role == "enforcer"
	input.method == "POST"
	input.path in enforcer_paths
}

# METADATA
# description: The ops token reads the health endpoint and the revision in force.
allow if {
	role == "ops"
	input.method in {"GET", "POST"}
	input.path in ops_paths
}

# METADATA
# description: The ops token evaluates the svd.health probe policy (it holds no data).
allow if {
	role == "ops"
	input.method in {"GET", "POST"}
	array.slice(input.path, 0, 4) == ["v1", "data", "svd", "health"]
}

# METADATA
# description: |
#   The role of the request's bearer token, looked up by the token's SHA-256;
#   undefined for a request without a token or with an unknown one.
role := data.system.identities[crypto.sha256(input.identity)]

# METADATA
# description: |
#   The rules hub.enforcer asks for (decisions.py): the decisions, the
#   revision, the parties and the agreements of the bundle in force.
enforcer_paths := {
	["v1", "data", "svd", "share", "decisions"],
	["v1", "data", "svd", "meta", "revision"],
	["v1", "data", "svd", "parties"],
	["v1", "data", "svd", "agreements"],
}

# METADATA
# description: |
#   Readiness (/health, with or without ?bundles; OPA serves it to GET only)
#   and the revision in force.
ops_paths := {
	["health"],
	["v1", "data", "svd", "meta", "revision"],
}
