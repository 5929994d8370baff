"""Displays: show a Screen (state, bilingual title, reasons, countdown)."""
