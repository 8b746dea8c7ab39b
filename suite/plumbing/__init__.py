"""Plumbing every layer uses: errors, safe file I/O, the output lock, statistics, progress lines, Markdown-safe text
and case-field declarations. Imports nothing else of the suite and no torch.
"""
