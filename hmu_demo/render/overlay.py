"""Text burned into frames: a caption band at the bottom and a label tag in the top-left corner.

Overlays are drawn once per clip with Pillow and alpha-blended into every frame inside their
bounding box only, which costs well under a millisecond per frame.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont


@dataclass
class Overlay:
    """Premultiplied RGB (h, w, 3) and alpha (h, w, 1) float32 placed at (top, left)."""

    rgb: np.ndarray
    alpha: np.ndarray
    top: int
    left: int

    def apply(self, frame: np.ndarray) -> np.ndarray:
        h, w = self.alpha.shape[:2]
        region = frame[self.top:self.top + h, self.left:self.left + w].astype(np.float32)
        blended = region * (1.0 - self.alpha) + self.rgb
        frame[self.top:self.top + h, self.left:self.left + w] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        return frame


@lru_cache(maxsize=16)
def _font(size: int, bold: bool = True) -> ImageFont.ImageFont:
    try:
        import matplotlib

        name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
        path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
        return ImageFont.truetype(str(path), size)
    except (ImportError, OSError):
        return ImageFont.load_default(size=size)


def _to_overlay(image: Image.Image, top: int, left: int) -> Overlay:
    arr = np.asarray(image, dtype=np.float32)
    alpha = arr[..., 3:4] / 255.0
    return Overlay(arr[..., :3] * alpha, alpha, top, left)


def caption_overlay(text: str, width: int, height: int, max_lines: int = 2) -> Overlay | None:
    """White text on a dark translucent band across the bottom, wrapped to the frame width."""
    text = " ".join(text.split())
    if not text:
        return None
    size = max(10, int(height * 0.042))
    font = _font(size)
    chars = max(8, int(width / (size * 0.58)))
    lines = textwrap.wrap(text, chars)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(0, chars - 1)].rstrip() + "…"
    pad = size // 2
    band_h = len(lines) * int(size * 1.25) + 2 * pad
    image = Image.new("RGBA", (width, band_h), (20, 22, 28, 170))
    draw = ImageDraw.Draw(image)
    y = pad
    for line in lines:
        line_w = draw.textlength(line, font=font)
        draw.text(((width - line_w) / 2, y), line, font=font, fill=(255, 255, 255, 255))
        y += int(size * 1.25)
    return _to_overlay(image, height - band_h, 0)


def label_overlay(text: str, width: int, height: int,
                  color: tuple[float, float, float] = (0.15, 0.17, 0.22)) -> Overlay | None:
    """A rounded tag with white text in the top-left corner (used for 'original' / 'unlearned')."""
    text = " ".join(text.split())
    if not text:
        return None
    size = max(10, int(height * 0.05))
    font = _font(size)
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    text_w = int(probe.textlength(text, font=font))
    pad = size // 2
    tag_w = min(width - 2 * pad, text_w + 2 * pad)
    tag_h = int(size * 1.2) + pad
    image = Image.new("RGBA", (tag_w, tag_h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    fill = tuple(int(c * 255) for c in color) + (235,)
    draw.rounded_rectangle((0, 0, tag_w - 1, tag_h - 1), radius=tag_h // 3, fill=fill)
    draw.text((pad, pad // 2), text, font=font, fill=(255, 255, 255, 255))
    return _to_overlay(image, pad, pad)
