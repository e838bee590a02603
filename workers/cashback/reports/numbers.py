"""Exact figures for reports: percentages of money computed with integers, never floats."""

from __future__ import annotations

from fractions import Fraction


def percent_text(part: int, whole: int, places: int = 2) -> str | None:
    """`part / whole` as a percentage with `places` decimals (half-even); None when whole is 0."""
    if whole == 0:
        return None
    scaled = round(Fraction(part * 100 * 10**places, whole))
    sign = "-" if scaled < 0 else ""
    digits = str(abs(scaled)).rjust(places + 1, "0")
    if not places:
        return sign + digits
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def exact_quotient(numerator: int, scale: int, min_places: int = 2) -> str:
    """`numerator / scale` written out exactly, `scale` being a power of ten (100, 1000...)."""
    places = len(str(scale)) - 1
    whole, rest = divmod(numerator, scale)
    fraction = str(rest).rjust(places, "0").rstrip("0") if places else ""
    fraction = fraction.ljust(min_places, "0")
    return f"{whole}.{fraction}" if fraction else str(whole)


def grouped(amount: int) -> str:
    """An integer with thousands separators, for tables people read."""
    return f"{amount:,}"
