"""Policy packs as data: one JSON file per venue kind (a package so installs ship the files)."""
