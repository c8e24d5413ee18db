"""Render settings as plain dataclasses (one place for every knob the CLI and the app expose)."""

from __future__ import annotations

from dataclasses import dataclass

BODIES: tuple[str, ...] = ("default", "smpl", "skeleton")


@dataclass
class RenderConfig:
    """How a clip is drawn and encoded. Sizes are rounded up to multiples of 16 (H.264 blocks)."""

    width: int = 512
    height: int = 512
    fps: int = 20
    body: str = "default"
    caption: str | None = None
    label: str | None = None
    trajectory: bool = True
    shadow: bool = True
    yfov_deg: float = 38.0
    elevation_deg: float = 17.0
    azimuth_deg: float = 32.0  # camera yaw from the motion's initial facing, towards its left
    follow_sigma_s: float = 0.6  # Gaussian smoothing of the root path the camera follows
    crf: int = 21
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        if self.body not in BODIES:
            raise ValueError(f"body must be one of {', '.join(BODIES)}, got {self.body!r}")
        if self.width < 32 or self.height < 32:
            raise ValueError(f"frame size {self.width}x{self.height} is too small (min 32x32)")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        self.width = -(-int(self.width) // 16) * 16
        self.height = -(-int(self.height) // 16) * 16


@dataclass
class Palette:
    """Scene colours (sRGB, 0..1), chosen for contrast on a washed-out projector."""

    background: tuple[float, float, float] = (0.90, 0.91, 0.93)
    floor: tuple[float, float, float] = (0.86, 0.87, 0.89)
    grid: tuple[float, float, float] = (0.66, 0.68, 0.72)
    trajectory: tuple[float, float, float] = (0.95, 0.55, 0.10)
    shadow: tuple[float, float, float] = (0.18, 0.19, 0.24)
    shadow_strength: float = 0.55
