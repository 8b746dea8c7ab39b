"""Reports rendered from results files (no torch import anywhere below this package)."""
