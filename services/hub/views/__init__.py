"""Near-real-time views for the VRP and the community safety partnerships:
view builders over the shared streams, disclosure control, the API."""
