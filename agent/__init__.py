"""The gate runtime: scan -> verify -> measure -> decide -> actuate -> record."""
