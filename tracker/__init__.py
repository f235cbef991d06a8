"""Healing-progress photo tracker: align, normalise and measure skin after laser treatment."""

__version__ = "0.1.0"
