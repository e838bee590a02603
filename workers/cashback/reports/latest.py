"""`--as-of-latest`: price every event with the newest version of each rule set.

By event time, a new version does not apply to the historical events a simulation replays.
To ask "what would this version cost", each rule set's highest version is recompiled with
its `effective_from` moved to the distant past, so it is the version in force at any time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import msgspec

from cashback.domain.catalog import Catalog
from cashback.domain.rules import RuleSet, compile_ruleset

# A day after year 1 begins, so that no UTC offset can push the comparison out of range.
DISTANT_PAST: Final = datetime(1, 1, 2, tzinfo=UTC)


def latest_versions(catalog: Catalog) -> Catalog:
    """A catalog holding only the highest version of each rule set, in force at any time."""
    newest: dict[str, RuleSet] = {}
    for ruleset in catalog.all():
        known = newest.get(ruleset.name)
        if known is None or ruleset.version > known.version:
            newest[ruleset.name] = ruleset
    return Catalog.of(
        compile_ruleset(msgspec.structs.replace(ruleset.doc, effective_from=DISTANT_PAST))
        for ruleset in newest.values()
    )
