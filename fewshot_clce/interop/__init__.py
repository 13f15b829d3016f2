"""Bridges to other few-shot libraries (optional extras)."""
