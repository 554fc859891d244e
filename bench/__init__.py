"""``python -m bench``: figures measured side by side in one run, printed as a table.

Never run by the unit tests. See docs/performance.md for the committed results.
"""
