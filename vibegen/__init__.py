"""VibeGen: compare text-to-image models on quality, cost and speed, with data."""

__version__ = "0.1.0"
