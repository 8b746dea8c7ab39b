"""The GPU validation command (validate.py) and its parts: checks, rules, power sampling, datasheet peaks."""
