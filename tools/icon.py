"""The plugin's listing icon (.claude-plugin/icon.png), drawn in code: ``python -m tools.icon``.

Claude Code's plugin validator (``claude plugin validate``) warns when a plugin has no icon; it
wants a square PNG of 512 to 2048 px. Drawing it here keeps the picture reviewable and
reproducible (a test checks the committed file is what this module draws): a database cylinder
on a rounded blue square, with an orange ring for "async".
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ICON = ROOT / ".claude-plugin" / "icon.png"
SIZE = 512

RGB = tuple[int, int, int]
BLUE: RGB = (30, 58, 95)
WHITE: RGB = (255, 255, 255)
ORANGE: RGB = (242, 140, 40)

# A shape is a signed distance in pixels: negative inside, positive outside.
Shape = Callable[[float, float], float]


def rounded_square(cx: float, cy: float, half: float, radius: float) -> Shape:
    def distance(x: float, y: float) -> float:
        qx = abs(x - cx) - half + radius
        qy = abs(y - cy) - half + radius
        outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
        return outside + min(max(qx, qy), 0.0) - radius

    return distance


def ellipse(cx: float, cy: float, rx: float, ry: float) -> Shape:
    def distance(x: float, y: float) -> float:
        dx, dy = x - cx, y - cy
        implicit = (dx / rx) ** 2 + (dy / ry) ** 2 - 1
        gradient = math.hypot(2 * dx / rx**2, 2 * dy / ry**2) or 1.0
        return implicit / gradient

    return distance


def box(x0: float, y0: float, x1: float, y1: float) -> Shape:
    return lambda x, y: max(x0 - x, x - x1, y0 - y, y - y1)


def union(*shapes: Shape) -> Shape:
    return lambda x, y: min(shape(x, y) for shape in shapes)


def intersection(*shapes: Shape) -> Shape:
    return lambda x, y: max(shape(x, y) for shape in shapes)


def outline(shape: Shape, width: float) -> Shape:
    return lambda x, y: abs(shape(x, y)) - width / 2


def below(shape: Shape, y_min: float) -> Shape:
    """Only the part of shape under the line y = y_min (the front half of a disc's rim)."""
    return lambda x, y: max(shape(x, y), y_min - y)


def coverage(distance: float) -> float:
    """Antialiasing: the share of a pixel inside the edge."""
    return min(max(0.5 - distance, 0.0), 1.0)


def layers() -> list[tuple[Shape, RGB]]:
    """Back to front."""
    top, rim, bottom = 140.0, 36.0, 350.0
    cylinder = union(
        ellipse(236, top, 116, rim), box(120, top, 352, bottom), ellipse(236, bottom, 116, rim)
    )
    discs = [
        intersection(below(outline(ellipse(236, y, 116, rim), 12), y), cylinder)
        for y in (210.0, 280.0)
    ]
    return [
        (rounded_square(256, 256, 248, 96), BLUE),
        (cylinder, WHITE),
        (outline(ellipse(236, top, 116, rim), 10), BLUE),
        *((disc, BLUE) for disc in discs),
        (ellipse(376, 376, 92, 92), BLUE),
        (ellipse(376, 376, 78, 78), ORANGE),
        (outline(ellipse(376, 376, 42, 42), 16), WHITE),
    ]


def pixels() -> bytes:
    """RGBA rows, each led by PNG filter byte 0."""
    drawn = layers()
    rows = bytearray()
    for row in range(SIZE):
        rows.append(0)
        y = row + 0.5
        for col in range(SIZE):
            x = col + 0.5
            red = green = blue = alpha = 0.0
            for shape, (r, g, b) in drawn:
                a = coverage(shape(x, y))
                if a:
                    red = red * (1 - a) + r * a
                    green = green * (1 - a) + g * a
                    blue = blue * (1 - a) + b * a
                    alpha = alpha + a * (1 - alpha)
            rows += bytes((round(red), round(green), round(blue), round(alpha * 255)))
    return bytes(rows)


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels(), 9))
        + chunk(b"IEND", b"")
    )


def main() -> int:
    ICON.parent.mkdir(exist_ok=True)
    ICON.write_bytes(png())
    print(f"wrote {ICON.relative_to(ROOT)} ({SIZE}x{SIZE}, {ICON.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
