"""What the gate agent and the hub agree on: credential formats, rules, schemas, topics. No I/O."""
