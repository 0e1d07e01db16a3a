"""One result type for every data-quality verdict: the Silver checks and the outbox health rules.

Why shared: both end up as Dagster asset-check results, and both are evaluated in plain Python
(tests, the CLI) where Dagster is not involved. One class means one converter
(``retail_assets/defs/check_results.py``) and one place that decides what a finding may hold.

Why ``Findings`` is typed: Dagster only refuses metadata it cannot serialise (a ``date``, an enum,
a numpy integer) when a run reports it — far from the rule that produced it. ``Findings`` accepts
JSON values only (str, int, float, bool, None, and lists/dicts of them) and refuses anything else
when the result is built, so a plain unit test of a rule catches it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

FindingValue = str | int | float | bool | None | list[Any] | dict[str, Any]


class Severity(StrEnum):
    ERROR = "ERROR"
    WARN = "WARN"


def _json_value(key: str, value: Any) -> FindingValue:
    if value is None or (isinstance(value, str | bool | int | float) and not isinstance(value, StrEnum)):
        return value
    if isinstance(value, list | tuple):
        return [_json_value(key, v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"finding {key!r}: dict keys must be str, got {list(value)[:3]}")
        return {k: _json_value(key, v) for k, v in value.items()}
    raise TypeError(
        f"finding {key!r} holds {type(value).__name__} {value!r}; findings hold JSON values only "
        "(str, int, float, bool, None, lists and dicts of them): convert it where the rule builds it."
    )


class Findings(Mapping[str, FindingValue]):
    """What a check found (counts, a few offending keys, notes), as an immutable mapping of JSON values."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any] | None = None, /, **more: Any) -> None:
        merged = {**(values or {}), **more}
        self._values: dict[str, FindingValue] = {str(k): _json_value(str(k), v) for k, v in merged.items()}

    def __getitem__(self, key: str) -> FindingValue:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Findings({self._values!r})"

    def with_values(self, **more: Any) -> Findings:
        """A copy with more (or replaced) values."""
        return Findings(self._values, **more)


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict: passed or not, how bad a failure is, what it found, and why in words.

    ``blocking``: a failed ERROR must stop what the check guards (the Silver commit of C1/C2).
    """

    name: str
    passed: bool
    severity: Severity
    description: str
    findings: Findings = field(default_factory=Findings)
    blocking: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))
        if not isinstance(self.findings, Findings):
            object.__setattr__(self, "findings", Findings(self.findings))

    @property
    def metadata(self) -> Findings:
        """The findings under the name Dagster gives them."""
        return self.findings

    @property
    def blocks_commit(self) -> bool:
        """A failed ERROR of a blocking check: what it guards must not be written."""
        return not self.passed and self.severity is Severity.ERROR and self.blocking

    def with_findings(self, **more: Any) -> CheckResult:
        return replace(self, findings=self.findings.with_values(**more))
