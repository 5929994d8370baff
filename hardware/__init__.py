"""One interface per device kind, each with a real driver and a simulator."""
