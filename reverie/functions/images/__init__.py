"""The three image verbs over any model: ``create``, ``edit``, ``remix``."""
