# METADATA
# title: Stack health probe
# description: |
#   A deliberately trivial policy. The local stack, the demo and the test
#   suite query it to prove that OPA is serving the svdhub bundle and
#   evaluating input, before any agreement is involved.
package svd.health

# METADATA
# description: True when the input names the svdhub probe; false otherwise.
default allow := false

allow if input.probe == "svdhub"

# METADATA
# description: The bundle's own name for itself, echoed back to callers.
bundle := "svdhub"
