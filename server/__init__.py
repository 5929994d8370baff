"""The hub: venues, rules, caps, access log and the supervisors' console."""
