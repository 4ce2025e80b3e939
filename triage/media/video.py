"""Video keyframes with OpenCV (the vPDQ approach): about one frame per second plus scene
changes, capped, each hashed with PDQ. Animated GIFs are sampled the same way."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageSequence

from triage.media.decode import check_dimensions, load, to_rgb
from triage.media.errors import MediaDamaged

INTERVAL_SECONDS = 1.0
SCENE_CHECKS_PER_SECOND = 4  # frames per second compared for scene changes
SCENE_THRESHOLD = 20.0  # mean absolute difference (0-255) of 32×32 grey frames
MAX_KEYFRAMES = 120
MAX_FRAMES_READ = 200_000  # about two hours at 25 fps; a longer stream is sampled so far
FRAME_SIDE = 512  # keyframes are kept at most this size (short side) for PDQ/thumbnails


@dataclass
class Keyframe:
    index: int
    timestamp: float
    image: Image.Image  # RGB, bounded size


@dataclass
class VideoInfo:
    width: int
    height: int
    fps: float
    duration: float | None
    keyframes: list[Keyframe]


def _small_gray(rgb: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.int16)


def _bounded(rgb: np.ndarray) -> Image.Image:
    h, w = rgb.shape[:2]
    factor = min(h, w) // FRAME_SIDE
    im = Image.fromarray(rgb)
    return im.reduce(factor) if factor >= 2 else im


class _Sampler:
    """Decides which frames become keyframes: the first, then one per interval, plus any
    frame that differs strongly from the last compared one (a cut)."""

    def __init__(self) -> None:
        self.next_due = 0.0
        self.last_small: np.ndarray | None = None

    def wants(self, timestamp: float, rgb: np.ndarray) -> bool:
        small = _small_gray(rgb)
        cut = (
            self.last_small is not None
            and float(np.abs(small - self.last_small).mean()) > SCENE_THRESHOLD
        )
        self.last_small = small
        if timestamp + 1e-6 >= self.next_due or cut:
            self.next_due = timestamp + INTERVAL_SECONDS
            return True
        return False


def video_keyframes(path, max_pixels: int, max_keyframes: int = MAX_KEYFRAMES) -> VideoInfo:
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise MediaDamaged("the video container could not be opened (damaged or unsupported)")
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        check_dimensions(width, height, max_pixels)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0)
        if not (0 < fps < 1000):
            fps = 25.0
        declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        check_every = max(1, round(fps / SCENE_CHECKS_PER_SECOND))
        sampler = _Sampler()
        keyframes: list[Keyframe] = []
        frame_no = 0
        read = 0
        while len(keyframes) < max_keyframes and read < MAX_FRAMES_READ:
            if not cap.grab():
                break
            read += 1
            if frame_no % check_every == 0:
                ok, bgr = cap.retrieve()
                if ok and bgr is not None:
                    if bgr.shape[0] * bgr.shape[1] > max_pixels:
                        check_dimensions(bgr.shape[1], bgr.shape[0], max_pixels)
                    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                    timestamp = frame_no / fps
                    if sampler.wants(timestamp, rgb):
                        keyframes.append(Keyframe(len(keyframes), timestamp, _bounded(rgb)))
            frame_no += 1
        frames = max(frame_no, declared)
        duration = frames / fps if frames else None
    finally:
        cap.release()
    if not keyframes:
        raise MediaDamaged("no frame of the video could be decoded")
    return VideoInfo(width, height, fps, duration, keyframes)


def gif_keyframes(im: Image.Image, max_keyframes: int = MAX_KEYFRAMES) -> VideoInfo:
    """An animated GIF (or WebP) sampled like a video, by frame durations."""
    sampler = _Sampler()
    keyframes: list[Keyframe] = []
    timestamp = 0.0
    for frame_no, frame in enumerate(ImageSequence.Iterator(im)):
        if len(keyframes) >= max_keyframes or frame_no >= MAX_FRAMES_READ:
            break
        load(frame)
        rgb = to_rgb(frame.copy())
        arr = np.asarray(rgb)
        if sampler.wants(timestamp, arr):
            keyframes.append(Keyframe(len(keyframes), round(timestamp, 3), _bounded(arr)))
        timestamp += max(float(frame.info.get("duration") or 100), 20.0) / 1000.0
    if not keyframes:
        raise MediaDamaged("no frame of the animation could be decoded")
    return VideoInfo(im.width, im.height, 0.0, timestamp, keyframes)
