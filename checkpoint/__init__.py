"""The `checkpoint` command's root: the one place that knows every part, and imports each only when used."""
