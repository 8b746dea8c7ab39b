"""Measurement: timed rounds and latency, FLOPs, peak memory, energy, compute ceilings and MFU, the system check, and
the devices and environment below them.
"""
