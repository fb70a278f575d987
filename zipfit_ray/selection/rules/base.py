"""The interface every selection rule plugs into: one Rule subclass per module, registered
in ``rules/__init__.py``."""

from __future__ import annotations

from typing import Any, ClassVar

from zipfit_ray.selection.amounts import Cut


class Rule:
    """Base of a rule: a frozen dataclass with one field, ``value``, checked when built."""

    name: ClassVar[str]  # its flag's dest, and the rule's name in Mode.rules
    flag: ClassVar[str]
    metavar: ClassVar[str]
    value_type: ClassVar[type]  # int or float
    help: ClassVar[str]
    by_tokens: ClassVar[bool] = False  # it needs every scored row's token count
    streamed: ClassVar[bool] = False  # known before scoring: shards write their own rows
    per_item: ClassVar[bool] = False  # cut in every target item's own order (coverage.py)
    value: Any

    def describe(self) -> str:
        return f"{self.flag} {self.value}"

    def resolved(self, rows: int, tokens: int) -> Cut:
        """What the rule comes to over ``rows`` scored rows holding ``tokens`` tokens."""
        raise NotImplementedError
