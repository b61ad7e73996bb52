"""``folder``: your own images, laid out as ``benign/`` and ``malignant/`` under ``--data-root``.

::

    PATH/benign/...      images, flat or in subfolders (any depth)
    PATH/malignant/...
    PATH/normal/...      optional; loaded as benign only with include_normal=True

Files with the image extensions BUSI accepts (.png .jpg .jpeg .bmp .tif .tiff, any case) are
read; names containing ``_mask`` (BUSI-style segmentation masks), hidden files and folders, and
other files are skipped. Ids are the paths relative to PATH (``benign/site1/img 3.png``), in
natural order. Decoding, the cache, duplicate groups and cross-label exclusions are BUSI's
(imagefiles.py). The folder is given with ``--data-root`` (or ``$PETL_BENCH_FOLDER_ROOT``);
nothing else is searched.
"""
from __future__ import annotations

import os
from pathlib import Path

from .imagefiles import IMAGE_EXTENSIONS, image_set_from_files, is_image_file, natural_key
from .imageset import BENIGN, MALIGNANT, ImageSet
from .registry import register_dataset

CLASS_FOLDERS = {"benign": BENIGN, "malignant": MALIGNANT}
_EXTENSIONS = " ".join(sorted(IMAGE_EXTENSIONS))


def _check_root(folder: Path) -> bool | str:
    missing = [f"{name}/" for name in CLASS_FOLDERS if not (folder / name).is_dir()]
    return not missing or f"has no {' and no '.join(missing)} folder (expected benign/ and malignant/ inside it)"


def list_class_files(root: Path, folder: str) -> list[str]:
    """Image files under ``root/folder`` (recursively), as posix paths relative to root."""
    out = []
    base = Path(root) / folder
    for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            path = Path(dirpath) / name
            if is_image_file(path):
                out.append(path.relative_to(root).as_posix())
    return out


def list_folder_files(root: Path, include_normal: bool = False) -> list[tuple[str, int]]:
    """(id, label) of every image, in natural order; FileNotFoundError for a missing or empty class."""
    root = Path(root)
    out = []
    for folder, label in CLASS_FOLDERS.items():
        if not (root / folder).is_dir():
            raise FileNotFoundError(f"{root} has no {folder}/ folder; the folder data set needs "
                                    "benign/ and malignant/ inside --data-root")
        files = list_class_files(root, folder)
        if not files:
            raise FileNotFoundError(
                f"no images in {root / folder} (looked in it and its subfolders for {_EXTENSIONS} files, "
                "skipping *_mask* files and hidden ones); put the class's images there")
        out += [(rel, label) for rel in files]
    if include_normal and (root / "normal").is_dir():  # optional
        out += [(rel, BENIGN) for rel in list_class_files(root, "normal")]
    return sorted(out, key=lambda item: natural_key(item[0]))


@register_dataset(
    "folder", title="image folder",
    description="your own images: benign/ and malignant/ (flat or nested) under --data-root",
    citation="(that of the data set in the folder)", licence="(that of the data set in the folder)",
    root_env="PETL_BENCH_FOLDER_ROOT", project_dir=None, check_root=_check_root,
    how_to_get=("Lay your images out as PATH/benign/... and PATH/malignant/... (subfolders allowed; "
                f"{_EXTENSIONS}; files named *_mask* are skipped)."))
def load_folder(root: Path, image_size: int, include_normal: bool = False,
                cache_dir: str | os.PathLike | None = None) -> ImageSet:
    files = list_folder_files(root, include_normal)
    return image_set_from_files("folder", Path(root), [rel for rel, _ in files], [label for _, label in files],
                                image_size, cache_dir)
