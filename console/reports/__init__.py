"""Reports: each defined once, exported from the page, the API, the command, a task or a mail.

See `base` for what a definition holds, `writers` for how rows become CSV or
JSON Lines without holding them in memory, `services` for the audited ways
out, `forms` for the filters.
"""

from __future__ import annotations

from console.reports.account_rates import AccountRateReport
from console.reports.actions import ActionReport
from console.reports.base import Column, Filters, Report
from console.reports.reviewer_activity import ReviewerActivityReport
from console.reports.violations import ViolationReport

REPORTS: dict[str, Report] = {
    report.name: report
    for report in (ViolationReport(), ActionReport(), AccountRateReport(), ReviewerActivityReport())
}


class UnknownReport(LookupError):
    pass


def get_report(name: str) -> Report:
    try:
        return REPORTS[name]
    except KeyError:
        raise UnknownReport(f"There is no report {name!r}; the reports are {', '.join(REPORTS)}.") from None


__all__ = ["REPORTS", "Column", "Filters", "Report", "UnknownReport", "get_report"]
