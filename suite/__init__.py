"""tradeoff-bench: measure what deep-learning optimization and acceleration levers cost and buy."""

__version__ = "0.1.0"
