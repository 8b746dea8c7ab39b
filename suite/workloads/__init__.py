"""Workloads: model families and datasets."""
