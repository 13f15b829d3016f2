"""Plumbing every layer uses: atomic file writes, checks of settings, safe loading, archives,
distributed set-up and the name registries. Nothing here knows about few-shot learning."""
