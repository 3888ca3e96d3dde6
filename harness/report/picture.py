"""The geometry of the mapping picture: the model's layers that found nothing on the left, the
loaded file's groups on the right, and a line from each layer to the groups that fit.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.evidence.model import FileRecord, MappingRecord


@dataclass
class PictureRow:
    text: str
    detail: str
    y: int
    status: str = ""


@dataclass
class PictureLine:
    y1: int
    y2: int
    status: str


@dataclass
class MappingPicture:
    """Geometry of the two-column picture: the model's layers that found nothing on the left,
    the loaded file's groups on the right, a line from each layer to the groups that fit."""

    width: int
    height: int
    left_x: int
    right_x: int
    left: list[PictureRow]
    right: list[PictureRow]
    lines: list[PictureLine]


PICTURE_ROW = 34
PICTURE_WIDTH = 900


def mapping_picture(mapping: list[MappingRecord], files: list[FileRecord]) -> MappingPicture | None:
    """Lay out the mapping of a cell against the anatomy of the file it loaded."""
    if not mapping:
        return None
    source = next((f for f in files if f.path == mapping[0].file), None)
    groups = source.groups if source else []
    right = [PictureRow(text=g.span or g.path, detail=", ".join(_shape(a.shape) for a in g.arrays), y=24 + i * PICTURE_ROW)
             for i, g in enumerate(groups)]
    by_span = {row.text: row for row in right}
    left, lines = [], []
    for i, entry in enumerate(mapping):
        y = 24 + i * PICTURE_ROW
        shapes = ", ".join(w.shape_text for w in entry.wanted)
        under = f"under {entry.looked_under}: " if entry.looked_under else ""
        left.append(PictureRow(text=entry.layer, detail=under + shapes, y=y, status=entry.status))
        for span in entry.candidates:
            if span in by_span:
                lines.append(PictureLine(y1=y, y2=by_span[span].y, status=entry.status))
    height = 24 + max(len(left), len(right), 1) * PICTURE_ROW
    return MappingPicture(width=PICTURE_WIDTH, height=height, left_x=8, right_x=PICTURE_WIDTH // 2 + 60,
                          left=left, right=right, lines=lines)


def _shape(shape: list[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
