"""What evaluating a table's rules found, per check group (typed, before it becomes a CheckResult).

Why typed: the findings feed the check's pass/fail, severity, description and metadata; a record
per rule (violations + sample of offending keys) and per group (rules run, failed, skipped) names
each of those once, where a loose dict let a misspelt key pass silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from retail_assets.checks.result import CheckResult, Findings, Severity
from retail_assets.silver.rules.groups import GROUP_DESCRIPTIONS

SAMPLE_SIZE = 5
"""Offending keys kept per failed rule (enough to start looking, small enough for the UI)."""


@dataclass(frozen=True)
class RuleViolation:
    """A rule that failed: how many offending rows/keys, and the first few keys (sorted)."""

    rule: str
    violations: int
    sample: tuple[str, ...]


@dataclass
class GroupFindings:
    """The rules of one check group for one table and day."""

    group: str
    rules_evaluated: int = 0
    failed: list[RuleViolation] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    severity: Severity = Severity.WARN
    """The worst severity among the failed rules (WARN when none failed)."""

    def record(
        self, rule: str, severity: Severity, violations: int, sample: list[str] | tuple[str, ...]
    ) -> None:
        """One evaluated rule (``violations`` 0 = it holds)."""
        self.rules_evaluated += 1
        if violations:
            self.failed.append(RuleViolation(rule, int(violations), tuple(sample)))
            if severity is Severity.ERROR:
                self.severity = Severity.ERROR

    def skip(self, note: str) -> None:
        """A rule not (fully) evaluated, and why."""
        self.skipped.append(note)

    @property
    def violations(self) -> int:
        return sum(v.violations for v in self.failed)

    def to_check_result(self) -> CheckResult:
        """The group's Dagster-facing verdict: failing rules named with counts and example keys."""
        description = GROUP_DESCRIPTIONS[self.group]
        if self.failed:
            description = "; ".join(
                f"{v.rule}: {v.violations} (e.g. {', '.join(v.sample[:3])})" for v in self.failed
            )
        return CheckResult(
            self.group,
            not self.failed,
            self.severity if self.failed else Severity.ERROR,
            description,
            Findings(
                rules_evaluated=self.rules_evaluated,
                violations=self.violations,
                failed_rules=[v.rule for v in self.failed],
                offending_keys=[k for v in self.failed for k in v.sample][: 2 * SAMPLE_SIZE],
                skipped_rules=list(self.skipped),
            ),
        )


class TableFindings(dict[str, GroupFindings]):
    """Group name → its findings; a group is created on first use."""

    def group(self, name: str) -> GroupFindings:
        if name not in self:
            self[name] = GroupFindings(name)
        return self[name]

    def result(self, name: str) -> CheckResult:
        """The group's check result (a group without rules passes with nothing evaluated)."""
        return self.get(name, GroupFindings(name)).to_check_result()
