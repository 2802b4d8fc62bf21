"""One check result and one table for the commands that run checks (``verify``, ``audit-lock``).

Standard library only: ``utils.lock`` uses it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"


@dataclass
class Check:
    name: str
    status: str        # pass | warn | fail | skip
    detail: str
    remedy: str = ""   # what to do when it did not pass
    scope: str = ""    # what it was checked on, e.g. "cuda12/linux-64-cuda"; empty when global

    @property
    def ok(self) -> bool:
        return self.status != FAIL

    def to_dict(self) -> dict:
        return asdict(self)


def format_table(checks: list[Check]) -> str:
    """STATUS  NAME  [SCOPE]  DETAIL per check, its remedy under any that did not pass, then counts."""
    with_scope = any(c.scope for c in checks)
    rows = [(c.status.upper(), c.name, c.scope if with_scope else "", c.detail) for c in checks]
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(3)]
    lines = []
    for check, row in zip(checks, rows, strict=True):
        cells = [f"{row[0]:<{widths[0]}}", f"{row[1]:<{widths[1]}}"]
        cells += [f"{row[2]:<{widths[2]}}"] if with_scope else []
        lines.append("  ".join(cells + [row[3]]))
        if check.status not in (PASS, SKIP) and check.remedy:
            lines.append(" " * (sum(widths[:2 + with_scope]) + 2 * (2 + with_scope)) + f"-> {check.remedy}")
    counts = {s: sum(c.status == s for c in checks) for s in (PASS, WARN, FAIL, SKIP)}
    lines.append(f"{counts[PASS]} passed, {counts[WARN]} warnings, {counts[FAIL]} failed"
                 + (f", {counts[SKIP]} skipped" if counts[SKIP] else ""))
    return "\n".join(lines)
