"""lead-dedup: find duplicate clients across CRM exports and build golden client profiles."""

__version__ = "0.1.0"
