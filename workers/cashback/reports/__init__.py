"""Reports for people and scripts built on the pure core: explanations and simulations.

Nothing here does I/O or parses arguments; the `cashback explain` and `cashback simulate`
commands feed them bytes and print what they return, and tests call them directly.
"""
