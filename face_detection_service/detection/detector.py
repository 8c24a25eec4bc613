"""The face detector the service runs: a primary model, optionally CenterFace, and a preset of how to use them."""

from __future__ import annotations

import cv2
import numpy as np

from .centerface import CenterFaceModel
from .fusion import CENTERFACE_TO_YOLO, Look, Proposal, fuse, vote
from .presets import Preset
from .tiling import FACE_LIMIT, Tile, TilePlan, plan_tiles, tile_to_image
from .turns import mosaic, split_mosaic, turn, turned_back
from .types import Detections, FaceModel

CANDIDATE_SCORE = 0.05  # looks that are voted on report candidates down to this score
# A tile holding a candidate scored in [low, high) gets a second, mirrored look; sure faces and near-certain
# background need none (bench/ACCURACY.md: about 0.5 extra model passes per WIDER photo).
SECOND_LOOK_SCORES = (0.1, 0.5)
# Turned photos (preset.find_turned): one model pass over a mosaic of the photo turned 0/90/180/270 degrees weighs
# each way up by the summed scores of its faces above EVIDENCE_SCORE; a turn that beats the photo as given there is
# checked by a whole-image pass turned that way, and taken when it finds more (summed scores) than the pass as
# given. Faces at least KEEP_AS_GIVEN sure in the photo as given are kept after a turn. (A sure face is no proof
# that a photo is upright: upside down, YOLOv8n-face still finds faces at 0.7 with their landmarks drawn upright.)
EVIDENCE_SCORE = 0.3
KEEP_AS_GIVEN = 0.5
# preset.all_turns: the runner-up way up gets the full pipeline too when its whole-image pass finds at least this
# share of what the best one finds.
BOTH_WAYS = 0.5


class FaceDetector:
    def __init__(self, primary: FaceModel, input_size: int, centerface: FaceModel | None = None):
        self.primary = primary
        self.input_size = input_size
        self.centerface = centerface

    @property
    def name(self) -> str:
        return self.primary.name

    def fuses_centerface(self, preset: Preset) -> bool:
        return preset.fuse_centerface and self.centerface is not None and self.centerface is not self.primary

    def model_name(self, preset: Preset) -> str:
        if self.fuses_centerface(preset):
            return f"{self.primary.name} + {self.centerface.name}"
        return self.primary.name

    def tile_plan(self, width: int, height: int, preset: Preset) -> TilePlan | None:
        """The tiles `detect` would look at for an image of this size (after shrinking it to preset.max_side)."""
        shrink = min(1.0, preset.max_side / max(width, height))
        width, height = max(1, round(width * shrink)), max(1, round(height * shrink))
        return plan_tiles(width, height, self.input_size, preset.max_tiles, preset.tile_zoom)

    def detect(self, image_rgb: np.ndarray, preset: Preset, score_threshold: float | None = None) -> Detections:
        """Faces in `image_rgb` (pixel coordinates of that image), best first, above the threshold."""
        threshold = preset.score_threshold if score_threshold is None else score_threshold
        full_height, full_width = image_rgb.shape[:2]
        image = _resize(image_rgb, preset.max_side / max(full_width, full_height), shrink_only=True)
        height, width = image.shape[:2]

        # Looks that are averaged need their weak candidates too: a face at 0.3 in one look and 0.1 in another.
        collect = min(threshold, CANDIDATE_SCORE) if preset.second_look else threshold
        whole = self._run(self.primary, image, collect)
        if preset.all_turns:
            faces = self._every_way_up(image, whole, preset, collect, threshold)
        else:
            quarter_turns, view, view_whole = (
                self._upright_turn(image, whole, collect) if preset.find_turned else (0, image, whole)
            )
            if quarter_turns:
                found = self._pipeline(view, view_whole, preset, collect, threshold)
                found = turned_back(found, quarter_turns, width, height)
                kept = whole.above(max(KEEP_AS_GIVEN, threshold))
                faces = fuse([Proposal(found), Proposal(kept, preferred=False)])
            else:
                faces = self._pipeline(image, whole, preset, collect, threshold)

        if (height, width) == (full_height, full_width):
            return faces
        to_full = np.array([full_width / width, full_height / height], np.float32)
        return faces.rescaled(to_full, full_width, full_height)

    def _pipeline(
        self, image: np.ndarray, whole: Detections, preset: Preset, collect: float, threshold: float
    ) -> Detections:
        """The preset's looks at the image as it is (`whole`: its whole-image pass), above the threshold."""
        height, width = image.shape[:2]
        plan = plan_tiles(width, height, self.input_size, preset.max_tiles, preset.tile_zoom)
        faces = self._looks(image, whole, plan, preset, collect)
        faces = faces.above(threshold)
        if self.fuses_centerface(preset):
            # CenterFace is fully convolutional: one pass over the image at the tiles' scale sees what they see.
            scale = plan.scale if plan is not None else 1.0
            view = _resize_to(image, max(1, round(width * scale)), max(1, round(height * scale)))
            found = self._run(self.centerface, view, threshold)
            back = np.array([width / view.shape[1], height / view.shape[0]], np.float32)
            faces = fuse([Proposal(faces), Proposal(found.rescaled(back, width, height), preferred=False)])
        return faces

    def _every_way_up(
        self, image: np.ndarray, whole: Detections, preset: Preset, collect: float, threshold: float
    ) -> Detections:
        """preset.all_turns: whole-image passes with the photo turned each of the four ways; the full pipeline the
        way up whose pass finds most (and also the runner-up's, when it finds nearly as much); the other turned
        passes' sure faces (people lying down, heads tipped over) fused in."""
        height, width = image.shape[:2]
        views = [turn(image, k) for k in range(4)]
        wholes = [whole] + [self._run(self.primary, views[k], collect) for k in (1, 2, 3)]
        evidence = [_evidence(found) for found in wholes]
        main = max(range(4), key=lambda k: (evidence[k], k == 0))
        runner_up = max((k for k in range(4) if k != main), key=lambda k: (evidence[k], k == 0))
        both = evidence[runner_up] > 0 and evidence[runner_up] >= BOTH_WAYS * evidence[main]
        proposals = []
        for k in range(4):
            if k == main or (k == runner_up and both):
                found = self._pipeline(views[k], wholes[k], preset, collect, threshold)
            else:
                found = wholes[k]
            if k != main:
                found = found.above(max(KEEP_AS_GIVEN, threshold))
            proposals.append(Proposal(turned_back(found, k, width, height), preferred=k == main))
        return fuse(proposals)

    def _looks(
        self, image: np.ndarray, whole: Detections, plan: TilePlan | None, preset: Preset, threshold: float
    ) -> Detections:
        """Every look of the preset at the image (as it is, upright; `plan`: its tiles), merged: by `fuse` or by
        `vote`."""
        looks = [Look(whole)]
        if plan is not None:
            looks += self._tile_looks(image, plan, preset, threshold)
        if not preset.second_look:
            return fuse([Proposal(look.detections) for look in looks])
        return vote(looks)

    def _tile_looks(self, image: np.ndarray, plan: TilePlan, preset: Preset, threshold: float) -> list[Look]:
        """The zoomed tiles' faces (and, for a second look, mirrored tiles'), as looks at the whole image."""
        height, width = image.shape[:2]
        zoomed = _resize_to(image, plan.scaled_width, plan.scaled_height)
        to_image = np.array([width / plan.scaled_width, height / plan.scaled_height], np.float32)

        def tile_faces(tile: Tile, mirrored: bool) -> Detections:
            crop = zoomed[tile.y : tile.y + tile.height, tile.x : tile.x + tile.width]
            if mirrored:
                found = self._run(self.primary, np.ascontiguousarray(crop[:, ::-1]), threshold).mirrored(tile.width)
            else:
                found = self._run(self.primary, crop, threshold)
            return tile_to_image(found, tile, plan, self.input_size).rescaled(to_image, width, height)

        per_tile = [tile_faces(tile, mirrored=False) for tile in plan.tiles]
        if not preset.second_look:
            return [Look(found) for found in per_tile]

        largest_tile_face = FACE_LIMIT * self.input_size / plan.scale
        looks = [Look(Detections.concat(per_tile), max_face=largest_tile_face)]
        low, high = SECOND_LOOK_SCORES
        unsure = [
            tile
            for tile, found in zip(plan.tiles, per_tile, strict=True)
            if ((found.scores >= low) & (found.scores < high)).any()
        ]
        if unsure:
            regions = tuple(
                (
                    tile.x * to_image[0],
                    tile.y * to_image[1],
                    (tile.x + tile.width) * to_image[0],
                    (tile.y + tile.height) * to_image[1],
                )
                for tile in unsure
            )
            mirrored = Detections.concat([tile_faces(tile, mirrored=True) for tile in unsure])
            looks.append(Look(mirrored, max_face=largest_tile_face, regions=regions))
        return looks

    def _upright_turn(
        self, image: np.ndarray, whole: Detections, threshold: float
    ) -> tuple[int, np.ndarray, Detections]:
        """How many quarter turns (np.rot90) make the photo's faces upright, the photo turned so, and its
        whole-image pass."""
        height, width = image.shape[:2]
        turns = (0, 1, 2, 3)
        canvas, cells = mosaic(image, turns, self.input_size)
        per_turn = split_mosaic(self._run(self.primary, canvas, EVIDENCE_SCORE), cells, width, height)
        evidence = [_evidence(found) for found in per_turn]
        best = max(turns[1:], key=lambda k: evidence[k])
        if evidence[best] <= max(evidence[0], _evidence(whole) / 2):
            return 0, image, whole
        view = turn(image, best)
        turned = self._run(self.primary, view, threshold)
        return (best, view, turned) if _evidence(turned) > _evidence(whole) else (0, image, whole)

    @staticmethod
    def _run(model: FaceModel, image: np.ndarray, threshold: float) -> Detections:
        """One model pass with scores on the primary (YOLO) scale."""
        if isinstance(model, CenterFaceModel):
            found = model.detect(image, CENTERFACE_TO_YOLO.inverse(threshold))
            return Detections(found.boxes, CENTERFACE_TO_YOLO(found.scores), found.landmarks).above(threshold)
        return model.detect(image, threshold)


def _evidence(faces: Detections) -> float:
    """How strongly a look says the photo is this way up: the summed scores of its fairly sure faces."""
    return float(faces.scores[faces.scores >= EVIDENCE_SCORE].sum())


def _resize(image: np.ndarray, scale: float, shrink_only: bool = False) -> np.ndarray:
    if scale == 1.0 or (shrink_only and scale > 1.0):
        return image
    height, width = image.shape[:2]
    return _resize_to(image, max(1, round(width * scale)), max(1, round(height * scale)))


def _resize_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if (height, width) == image.shape[:2]:
        return image
    interpolation = cv2.INTER_AREA if width < image.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)
