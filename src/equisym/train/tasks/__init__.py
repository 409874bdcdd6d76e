"""Importing this package registers every task with the engine (one import per task)."""

from equisym.train.tasks import classification  # noqa: F401
from equisym.train.tasks import wallpaper  # noqa: F401
from equisym.train.tasks import potential  # noqa: F401
from equisym.train.tasks import dos  # noqa: F401

__all__ = ["classification", "wallpaper", "potential", "dos"]
