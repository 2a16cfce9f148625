"""This project's own implementations of the reference networks (CAUSE, SPIdepth).

Written so that the official checkpoint files load with ``strict=True`` and no
conversion script.
"""
