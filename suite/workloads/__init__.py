"""Workloads: model families and datasets beyond the seed's dense and conv nets."""
