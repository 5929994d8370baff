"""The venue demo as its own part: a broker, the hub and simulated gates as processes, set up by their commands and HTTP API."""
