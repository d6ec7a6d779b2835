"""Fault injection on the running pipeline (``make soak``)."""
