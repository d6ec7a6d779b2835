"""The authority side: connectors that run inside an authority's own network.

A connector turns a local extract into signed, pseudonymised events on Kafka.
It imports ``wire`` and never ``hub``: nothing here may depend on hub code.
"""
