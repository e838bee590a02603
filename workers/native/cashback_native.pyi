"""Type stubs of the native engine (see README.md)."""

from collections.abc import Callable, Iterable
from typing import Any

class Engine:
    def __init__(self, spec: bytes, output_cls: type[Any], tally_cls: type[Any]) -> None: ...
    def handle(self, raw: bytes) -> tuple[int, list[Any], list[Any], str, str, int, int] | None: ...
    def price_batch(
        self,
        records: Iterable[Any],
        accruals: str,
        notifications: str,
        fallback: Callable[[Any, list[Any]], None],
        threads: int = 0,
    ) -> tuple[Any, ...]: ...
