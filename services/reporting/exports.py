"""The reports as CSV, one row per line for a spreadsheet: what the API answers with
`format=csv` and what the dashboard's download links give, the same file either way."""

import csv
import io

from fastapi.responses import Response

from services.reporting import reports


def csv_file(name: str, header: list[str], rows: list[list]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def timeliness(report: reports.TimelinessReport) -> Response:
    rows = [
        [t.tier, t.complaints, target.target, target.decided, target.within, target.breached, target.within_share,
         target.breach_rate, t.first_response.median, t.first_response.p90, t.resolution.median, t.resolution.p90,
         t.first_response.average, t.resolution.average]
        for t in report.tiers
        for target in t.targets
    ]  # fmt: skip
    header = ["tier", "complaints", "target", "decided", "within", "breached", "within_share", "breach_rate",
              "first_response_median_s", "first_response_p90_s", "resolution_median_s", "resolution_p90_s",
              "first_response_average_s", "resolution_average_s"]  # fmt: skip
    return csv_file("timeliness", header, rows)


def distributions(report: reports.Distributions) -> Response:
    rows = [[dimension, c.value, c.complaints] for dimension, counts in report.by.items() for c in counts]
    rows += [["cause", c.value, c.complaints] for c in report.causes]
    rows += [["day", p.starts.isoformat(), p.received] for p in report.daily]
    return csv_file("distributions", ["dimension", "value", "complaints"], rows)


def satisfaction(report: reports.Satisfaction) -> Response:
    header = ["answered", "expired", "average_result", "average_speed", "satisfied", "satisfied_share", "target"]
    row = [report.surveys_answered, report.surveys_expired, report.average_result, report.average_speed,
           report.satisfied, report.satisfied_share, report.target]  # fmt: skip
    return csv_file("satisfaction", header, [row])


def targets(report: reports.Targets) -> Response:
    rows = [[f.name, f.value, f.target, f.met] for f in report.figures]
    return csv_file("targets", ["figure", "value", "target", "met"], rows)
