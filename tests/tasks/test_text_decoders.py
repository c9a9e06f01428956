"""The dbnet and ctc decoders on synthetic outputs."""

from __future__ import annotations

import numpy as np
import pytest

from tensorgate.errors import InferenceError
from tensorgate.imaging.geometry import ImageGeometry
from tensorgate.tasks.ctc import decode_ctc, dictionary_from_metadata
from tensorgate.tasks.dbnet import RegionParams, decode_dbnet

pytest.importorskip("cv2")


def text_map(*boxes: tuple[int, int, int, int], size: tuple[int, int] = (128, 256)) -> np.ndarray:
    probability = np.zeros((1, *size), np.float32)
    for left, top, right, bottom in boxes:
        probability[0, top:bottom, left:right] = 0.9
    return probability


def test_blobs_become_regions_in_reading_order_in_original_pixels() -> None:
    # The second line first in the map; the model input is half the original's size.
    probability = text_map((140, 60, 220, 76), (20, 20, 120, 36), (140, 20, 200, 36))
    geometry = ImageGeometry(512, 256, 0.5, 0.5)
    answer = decode_dbnet(probability, geometry, RegionParams())
    assert (answer.width, answer.height) == (512, 256)
    tops_lefts = [(r.polygon[0][1], r.polygon[0][0]) for r in answer.items]
    # line 1 (tops near 20 px) left to right, then line 2 (top near 100 px)
    assert tops_lefts == sorted(tops_lefts, key=lambda p: (p[0] > 60, p[1]))
    assert [round(t, -1) for t, _ in tops_lefts] == [20, 20, 100]
    first = np.array(answer.items[0].polygon)
    # unclipped (grown) around 20..120 x 20..36 in the map, then doubled
    assert first[:, 0].min() < 40 < 240 < first[:, 0].max()
    assert all(0.8 < r.score <= 0.9 for r in answer.items)  # the rim counts too (fast score)


def test_an_empty_map_is_no_region_and_noise_is_filtered() -> None:
    assert decode_dbnet(text_map(), ImageGeometry(256, 128), RegionParams()).items == ()
    speck = text_map((10, 10, 12, 12))  # 2 px: below the minimum side
    assert decode_dbnet(speck, ImageGeometry(256, 128), RegionParams()).items == ()
    faint = text_map((20, 20, 120, 36)) * 0.5  # above threshold 0.3, below box 0.5
    assert decode_dbnet(faint, ImageGeometry(256, 128), RegionParams()).items == ()


def test_a_broken_map_is_an_error() -> None:
    with pytest.raises(InferenceError, match="NaN"):
        decode_dbnet(np.full((1, 8, 8), np.nan, np.float32), ImageGeometry(8, 8), RegionParams())
    with pytest.raises(InferenceError, match=r"\[1, height, width\]"):
        decode_dbnet(np.zeros((2, 8, 8), np.float32), ImageGeometry(8, 8), RegionParams())


def one_hot(indices: list[int], classes: int) -> np.ndarray:
    out = np.full((len(indices), classes), 0.01, np.float32)
    out[np.arange(len(indices)), indices] = 0.95
    return out


def test_ctc_collapses_repeats_and_drops_blanks() -> None:
    characters = dictionary_from_metadata("a\nb\nl")  # blank, a, b, l, space
    assert characters == ("", "a", "b", "l", " ")
    line = decode_ctc(one_hot([0, 2, 2, 1, 0, 3, 3, 0, 3, 4, 1, 0], 5), characters)
    assert line.text == "ball a"
    assert line.score == pytest.approx(0.95)
    assert decode_ctc(one_hot([0, 0, 0], 5), characters).text == ""


def test_ctc_refuses_a_dictionary_that_does_not_fit() -> None:
    with pytest.raises(InferenceError, match="answers 7 classes but its dictionary has 5"):
        decode_ctc(one_hot([1, 2], 7), dictionary_from_metadata("a\nb\nl"))
