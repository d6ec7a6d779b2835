"""The wire contract shared by authority connectors and the hub.

Everything that crosses the boundary between an authority's network and the
hub is defined here: Avro schemas, the envelope, the codec, signing and topic
names. This package imports neither ``edge`` nor ``hub``; both import it.
"""
