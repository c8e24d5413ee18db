"""Frame limits that training and evaluation share, so both see the same caption spans."""

from __future__ import annotations

__all__ = ["MIN_FRAMES"]

#: Caption spans (and clips) shorter than this many frames are skipped: they give fewer than 2 tokens
#: (the VQ downsamples by 4).
MIN_FRAMES = 8
