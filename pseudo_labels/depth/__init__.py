"""Monocular depth: SPIdepth inference with the reference's pre- and post-processing, and whole splits of maps."""
