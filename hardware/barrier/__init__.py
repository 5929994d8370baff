"""Barrier relays: pulse open, hold open, lock; always driven to the safe state on stop."""
