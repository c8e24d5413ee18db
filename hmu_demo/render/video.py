"""MP4 encoding that browsers play (H.264, yuv420p, faststart) with imageio-ffmpeg's own ffmpeg.

Gradio does not transcode without a system ffmpeg, so the file must be right when written.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from hmu_demo.atomic import StagedFile


@dataclass
class VideoInfo:
    """What an encoded file contains, read back from the file itself."""

    codec: str
    pix_fmt: str
    width: int
    height: int
    fps: float
    frames: int


class Mp4Writer:
    """An H.264 MP4 fed frame by frame; written next to its destination and renamed on ``close``,
    so a failure (``abort``) never leaves a half-written video where a good one was.

    Several writers can be fed from one frame loop (e.g. a composite and its two halves): each
    runs its own ffmpeg process, so encoding overlaps with rendering and with the other writers.
    """

    def __init__(self, path: str | Path, fps: int = 20, crf: int = 21, preset: str = "veryfast") -> None:
        self.path = Path(path)
        self.fps, self.crf, self.preset = fps, crf, preset
        self._writer = None
        self._staged: StagedFile | None = None  # the temporary file beside ``path``, from the first frame

    def send(self, frame: np.ndarray) -> None:
        if self._writer is None:
            self._staged = StagedFile(self.path, suffix=self.path.suffix or ".mp4")
            height, width = frame.shape[:2]
            self._writer = imageio_ffmpeg.write_frames(
                str(self._staged.tmp), (width, height), fps=self.fps, codec="libx264", pix_fmt_out="yuv420p",
                quality=None, macro_block_size=16, ffmpeg_log_level="error",
                output_params=["-crf", str(self.crf), "-preset", self.preset, "-movflags", "+faststart"],
            )
            self._writer.send(None)
        self._writer.send(np.ascontiguousarray(frame, dtype=np.uint8))

    def close(self) -> Path:
        """Finish encoding and move the file into place."""
        if self._writer is None:
            raise ValueError("no frames to encode")
        writer, self._writer = self._writer, None
        try:
            writer.close()
            return self._staged.commit()
        finally:
            self._staged.discard()

    def abort(self) -> None:
        """Stop encoding and remove the partial file (the destination is left as it was)."""
        writer, self._writer = self._writer, None
        try:
            if writer is not None:
                writer.close()
        finally:
            if self._staged is not None:
                self._staged.discard()


def write_mp4(frames: Iterable[np.ndarray], path: str | Path, fps: int = 20, crf: int = 21,
              preset: str = "veryfast") -> int:
    """Encode RGB uint8 frames (H, W, 3) to ``path``; returns the number of frames written."""
    return write_mp4s(((frame,) for frame in frames), [path], fps, crf, preset)


def write_mp4s(frame_tuples: Iterable[Sequence[np.ndarray]], paths: Sequence[str | Path], fps: int = 20,
               crf: int = 21, preset: str = "veryfast") -> int:
    """Encode several videos from one frame loop: item ``i`` of each tuple goes to ``paths[i]``.

    Returns the number of frames written to each; a video that fails never replaces its destination.
    """
    writers = [Mp4Writer(p, fps, crf, preset) for p in paths]
    try:
        count = 0
        for frames in frame_tuples:
            for writer, frame in zip(writers, frames, strict=True):
                writer.send(frame)
            count += 1
        if count == 0:
            raise ValueError("no frames to encode")
        for writer in writers:
            writer.close()
    finally:
        for writer in writers:
            writer.abort()
    return count


def probe(path: str | Path) -> VideoInfo:
    """Codec, pixel format, size, fps and frame count of a video, via the bundled ffmpeg."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    frames = sum(1 for _ in reader)
    codec, pix_fmt = _stream_codec(path)
    width, height = meta["size"]
    return VideoInfo(codec, pix_fmt, int(width), int(height), float(meta["fps"]), frames)


def _stream_codec(path: str | Path) -> tuple[str, str]:
    """Codec name and pixel format from ffmpeg's stream description (no ffprobe is bundled)."""
    result = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                            capture_output=True, text=True, check=False)
    for line in result.stderr.splitlines():
        if "Video:" in line:
            desc = line.split("Video:", 1)[1].strip()
            codec = desc.split()[0]
            fields = [f.strip() for f in desc.split(",")]
            pix_fmt = fields[1].split("(")[0].strip() if len(fields) > 1 else ""
            return codec, pix_fmt
    raise ValueError(f"no video stream in {path}: {json.dumps(result.stderr[-300:])}")


def read_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Decoded RGB frames of a video (for tests and thumbnails)."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    for raw in reader:
        yield np.frombuffer(raw, np.uint8).reshape(height, width, 3)


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 0,
                 gap_color: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """Two frames of equal height next to each other."""
    if gap <= 0:
        return np.concatenate([left, right], axis=1)
    bar = np.empty((left.shape[0], gap, 3), np.uint8)
    bar[:] = gap_color
    return np.concatenate([left, bar, right], axis=1)
