"""Exact money arithmetic: percentages as integer ratios, rounding once per rule result.

Amounts are integers in minor units. A percent such as "1.5" becomes the ratio 15/10, and
`base * percent / 100` is computed with integer division, so no float ever touches money.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

# `\Z`, not `$`: in Python `$` also matches before a trailing newline.
PERCENT_PATTERN = r"^(0|[1-9][0-9]{0,2})(\.[0-9]{1,6})?\Z"
_PERCENT_RE = re.compile(PERCENT_PATTERN)

# Amounts are bounded by the largest integer a JSON consumer in any language reads exactly.
MAX_MINOR = 2**53 - 1


class Rounding(Enum):
    DOWN = "down"
    HALF_UP = "half_up"
    HALF_EVEN = "half_even"


@dataclass(frozen=True, slots=True)
class Percent:
    """A percentage as numerator/denominator: "1.5" is 15/10 (that is, 1.5 %)."""

    numerator: int
    denominator: int
    text: str

    @classmethod
    def parse(cls, text: str) -> Percent:
        """Parse a decimal string between "0" and "100"; raises ValueError otherwise."""
        if not _PERCENT_RE.match(text):
            raise ValueError(f'percent must be a decimal string like "1.5", got {text!r}')
        whole, _, frac = text.partition(".")
        denominator = 10 ** len(frac)
        numerator = int(whole) * denominator + (int(frac) if frac else 0)
        if numerator > 100 * denominator:
            raise ValueError(f"percent must be at most 100, got {text!r}")
        return cls(numerator, denominator, text)

    def of(self, base_minor: int, rounding: Rounding) -> int:
        """`base * percent / 100`, rounded once by `rounding`."""
        return divide(base_minor * self.numerator, 100 * self.denominator, rounding)


def divide(numerator: int, denominator: int, rounding: Rounding) -> int:
    """Integer division of a non-negative numerator by a positive denominator."""
    quotient, remainder = divmod(numerator, denominator)
    if rounding is Rounding.DOWN or remainder == 0:
        return quotient
    twice = 2 * remainder
    if twice > denominator:
        return quotient + 1
    if twice < denominator:
        return quotient
    if rounding is Rounding.HALF_UP:
        return quotient + 1
    return quotient + (quotient & 1)  # half_even: to the even neighbour
