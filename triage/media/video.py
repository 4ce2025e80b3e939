"""Video keyframes with OpenCV (the vPDQ approach): about one frame per second plus scene
changes, capped, each hashed with PDQ. Animated GIFs are sampled the same way.

Bounds: a video frame may have at most ``MAX_VIDEO_PIXELS`` (8K is 33 MP; OpenCV hands us
every decoded frame as a full-size BGR array, so a frame costs ~5 bytes per pixel between
FFmpeg and us). Keyframes are shrunk before their colour conversion, strip by strip, so no
other full-size copy is made. An animation stops being sampled after
``MAX_ANIMATION_PIXELS`` decoded pixels (a GIF of thousands of full-screen frames is a time
bomb), as a video does after ``MAX_FRAMES_READ`` frames."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageSequence

from triage.media.decode import check_dimensions, load, reduced_rgb
from triage.media.errors import MediaDamaged

INTERVAL_SECONDS = 1.0
SCENE_CHECKS_PER_SECOND = 4  # frames per second compared for scene changes
SCENE_THRESHOLD = 20.0  # mean absolute difference (0-255) of 32×32 grey frames
MAX_KEYFRAMES = 120
MAX_FRAMES_READ = 200_000  # about two hours at 25 fps; a longer stream is sampled so far
FRAME_SIDE = 512  # keyframes are kept at most this size (short side) for PDQ/thumbnails
MAX_VIDEO_PIXELS = 40_000_000  # per frame: above 8K UHD (33 MP) and 8K DCI (35 MP)
# Decoded pixels per animation: ~4 s here (Pillow composes every GIF frame at full size,
# ~65 MP/s); 1,000 frames of 500×500, or 250 of 1000×1000.
MAX_ANIMATION_PIXELS = 250_000_000
STRIP_ROWS = 256


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


def _small_gray(image: np.ndarray, code: int = cv2.COLOR_RGB2GRAY) -> np.ndarray:
    gray = cv2.cvtColor(image, code)
    return cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.int16)


def bounded_rgb_from_bgr(bgr: np.ndarray) -> Image.Image:
    """The frame as an RGB image shrunk like ``Image.reduce`` (short side >= FRAME_SIDE).
    Box averaging is per channel, so the BGR pixels are reduced strip by strip (boxes
    aligned, so exactly as the whole frame) and only the small result is converted."""
    h, w = bgr.shape[:2]
    factor = min(h, w) // FRAME_SIDE
    if factor < 2:
        return Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    out = np.empty((-(-h // factor), -(-w // factor), 3), np.uint8)
    step = factor * max(1, STRIP_ROWS // factor)
    for top in range(0, h, step):
        strip = Image.fromarray(np.ascontiguousarray(bgr[top : top + step])).reduce(factor)
        out[top // factor : top // factor + strip.height] = np.asarray(strip)
    return Image.fromarray(cv2.cvtColor(out, cv2.COLOR_BGR2RGB))


class _Sampler:
    """Decides which frames become keyframes: the first, then one per interval, plus any
    frame that differs strongly from the last compared one (a cut)."""

    def __init__(self) -> None:
        self.next_due = 0.0
        self.last_small: np.ndarray | None = None

    def wants(self, timestamp: float, small: np.ndarray) -> bool:
        """``small``: the frame as 32×32 grey (``_small_gray``)."""
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
    limit = min(max_pixels, MAX_VIDEO_PIXELS)
    what = " for a video frame" if limit < max_pixels else ""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise MediaDamaged("the video container could not be opened (damaged or unsupported)")
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        check_dimensions(width, height, limit, what)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0)
        if not (0 < fps < 1000):
            fps = 25.0
        declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        check_every = max(1, round(fps / SCENE_CHECKS_PER_SECOND))
        sampler = _Sampler()
        keyframes: list[Keyframe] = []
        frame_no = 0
        read = 0
        ended = False
        while len(keyframes) < max_keyframes and read < MAX_FRAMES_READ:
            if not cap.grab():
                ended = True
                break
            read += 1
            if frame_no % check_every == 0:
                ok, bgr = cap.retrieve()
                if ok and bgr is not None:
                    if bgr.shape[0] * bgr.shape[1] > limit:  # the size changed mid-stream
                        check_dimensions(bgr.shape[1], bgr.shape[0], limit, what)
                    timestamp = frame_no / fps
                    if sampler.wants(timestamp, _small_gray(bgr, cv2.COLOR_BGR2GRAY)):
                        keyframes.append(
                            Keyframe(len(keyframes), timestamp, bounded_rgb_from_bgr(bgr))
                        )
                    del bgr
            frame_no += 1
        # A header may declare any frame count: once the stream has ended, what was read
        # is the truth; otherwise (sampling stopped early) the declared count is kept.
        frames = frame_no if ended else max(frame_no, declared)
        duration = frames / fps if frames else None
    finally:
        cap.release()
    if not keyframes:
        raise MediaDamaged("no frame of the video could be decoded")
    return VideoInfo(width, height, fps, duration, keyframes)


def gif_keyframes(im: Image.Image, max_keyframes: int = MAX_KEYFRAMES) -> VideoInfo:
    """An animated GIF (or WebP) sampled like a video, by frame durations. Each frame is
    shrunk before it is converted; sampling stops after ``MAX_ANIMATION_PIXELS``."""
    sampler = _Sampler()
    keyframes: list[Keyframe] = []
    timestamp = 0.0
    frame_pixels = max(1, im.width * im.height)
    for frame_no, frame in enumerate(ImageSequence.Iterator(im)):
        if len(keyframes) >= max_keyframes or frame_no >= MAX_FRAMES_READ:
            break
        if frame_no and (frame_no + 1) * frame_pixels > MAX_ANIMATION_PIXELS:
            break
        load(frame)
        rgb = reduced_rgb(frame, FRAME_SIDE)
        if rgb is frame:  # small and already RGB: the next frame reuses this image
            rgb = rgb.copy()
        if sampler.wants(timestamp, _small_gray(np.asarray(rgb))):
            keyframes.append(Keyframe(len(keyframes), round(timestamp, 3), rgb))
        timestamp += max(float(frame.info.get("duration") or 100), 20.0) / 1000.0
    if not keyframes:
        raise MediaDamaged("no frame of the animation could be decoded")
    return VideoInfo(im.width, im.height, 0.0, timestamp, keyframes)
