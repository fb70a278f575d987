"""Settings: a frozen dataclass whose fields are named as the flags that set them (a flag's
dest), so that flags become typed settings and settings become flags again by name alone.

The selection plan (config/) is made of these, and each mode's own settings are one
(modes/base.py): a part owns its flags and checks its own values when it is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T", bound="Settings")


class Settings:
    """Base of a frozen dataclass of flag values; subclasses check them in __post_init__."""

    @classmethod
    def flag_names(cls) -> tuple[str, ...]:
        """The flags this part owns."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_flags(cls: type[T], flags: Mapping[str, Any]) -> T:
        """The part, from the flags it owns among ``flags`` (the others are ignored; a flag
        not given takes its default)."""
        return cls(**{name: flags[name] for name in cls.flag_names() if name in flags})

    def flags(self) -> dict[str, Any]:
        """The part as flag values, by name (from_flags' inverse)."""
        return {name: getattr(self, name) for name in self.flag_names()}
