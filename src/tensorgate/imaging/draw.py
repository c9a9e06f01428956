"""Draw a detector's answer over its photo (``tensorgate detect --draw``)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont, ImageOps

from tensorgate.errors import ImageError
from tensorgate.tasks.results import Detections, TextRegions

__all__ = ["draw_detections"]

#: Box colours, cycled by class index (colour-blind-safe Okabe–Ito palette).
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")


def draw_detections(data: bytes, answer: Detections | TextRegions) -> Image.Image:
    """The upright photo with each box and ``label score`` (or each text region's
    polygon and score) drawn over it.

    Raises:
        ImageError: the bytes are not an image Pillow opens, or its upright size is not
            the one the answer was computed for.
    """
    try:
        photo = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    except Exception as exc:  # Pillow raises many kinds on a bad file
        raise ImageError(f"cannot draw on this image: {exc}") from None
    if photo.size != (answer.width, answer.height):
        raise ImageError(
            f"the image is {photo.width}x{photo.height} but the answer is for "
            f"{answer.width}x{answer.height}; draw on the photo that was sent"
        )
    canvas = ImageDraw.Draw(photo)
    line = max(2, round(min(photo.size) / 200))
    font = ImageFont.load_default(size=max(12, round(min(photo.size) / 30)))
    if isinstance(answer, TextRegions):
        for number, region in enumerate(answer.items):
            colour = PALETTE[number % len(PALETTE)]
            canvas.polygon(list(region.polygon), outline=colour, width=line)
            canvas.text(region.polygon[0], f"{region.score:.2f}", fill=colour, font=font)
        return photo
    for detection in answer.items:
        colour = PALETTE[detection.index % len(PALETTE)]
        left, top, right, bottom = detection.box
        canvas.rectangle((left, top, right, bottom), outline=colour, width=line)
        text = f"{detection.label} {detection.score:.2f}"
        box = canvas.textbbox((left, top), text, font=font)
        lift = box[3] - box[1] + 2 * line
        anchor = (left, max(0.0, top - lift))
        back = canvas.textbbox(anchor, text, font=font)
        canvas.rectangle(
            (back[0] - line, back[1] - line, back[2] + line, back[3] + line), fill=colour
        )
        canvas.text(anchor, text, fill="black", font=font)
    return photo
