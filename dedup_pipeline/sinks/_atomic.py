"""Files replaced whole: written aside, then renamed into place."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

__all__ = ["copy_atomically", "replace_atomically"]


def replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write`` on a file beside ``path``, then rename it to ``path``.

    A crash leaves the last complete file, and readers of the old one keep a whole file:
    the new one is a new inode, never the old one rewritten.
    """
    partial = path.with_name(path.name + ".partial")
    write(partial)
    os.replace(partial, path)


def copy_atomically(source: Path, path: Path) -> None:
    """Copy ``source`` to ``path`` with `replace_atomically`."""
    replace_atomically(path, lambda target: shutil.copyfile(source, target))
