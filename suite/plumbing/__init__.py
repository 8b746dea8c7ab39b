"""Plumbing every layer uses: errors, safe file I/O, the output lock, statistics, progress lines and Markdown-safe
text. Imports nothing else of the suite and no torch.
"""
