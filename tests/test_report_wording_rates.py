"""Every error rate the report's methods section quotes comes from
``reports/measured_rates.json``, with what it was measured on, the date and the seed (issue 13),
and that file stays easy to update (one line per rate) and points at real benchmark sections."""

from __future__ import annotations

import html as html_lib
import json
import re
from pathlib import Path

import pytest

from consentry.analyzers import registry
from consentry.reports.collect import _method
from consentry.reports.html_report import render_html
from consentry.reports.methods import RATES_FILE, measured_rates, method_text, rates_of

from .test_report_wording import report, section, text_of

BUILT_IN = ("crypto_hashes", "pdq", "explicit", "faces", "provenance", "persons", "derivation")
DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
# a figure that reads as a measured rate: a decimal, a percentage, "N of M"
RATE = re.compile(r"\b\d+\.\d+\b|\b\d+(?:\.\d+)? ?%|\b\d[\d,]* of \d[\d,]*\b")


def test_each_rate_is_one_line_of_the_file() -> None:
    lines = RATES_FILE.read_text(encoding="utf-8").splitlines()
    rate_lines = [ln for ln in lines if ln.startswith('{"id"')]
    assert len(rate_lines) == len(measured_rates()) > 0
    for ln in rate_lines:
        json.loads(ln.rstrip(","))  # a whole rate on its line: updating it is a one-line edit


@pytest.mark.parametrize("rate", measured_rates(), ids=lambda r: r.id)
def test_each_rate_says_where_it_was_measured(rate) -> None:  # type: ignore[no-untyped-def]
    assert rate.method in BUILT_IN
    if rate.date is not None:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", rate.date)
    if rate.held_out is not None:  # a measured figure: its run can be repeated
        assert rate.command and rate.date
    if rate.held_out:
        assert rate.seed, "a held-out figure names its seed or split"
    if rate.section is not None:
        headings = [h for h in DOC.read_text(encoding="utf-8").splitlines() if h.startswith("#")]
        assert any(rate.section in h for h in headings), rate.section
    if RATE.search(rate.value) and not rate.value.startswith(("not measured", "none by")):
        assert rate.date and rate.command, "a number needs its run"


def methods_html() -> str:
    methods = [_method(name, "1", (), {}, 1) for name in BUILT_IN]
    return section(render_html(report(methods=methods)), "methods")


def test_methods_section_quotes_only_rates_from_the_file() -> None:
    html = methods_html()
    known = {r.value for r in measured_rates()}
    quoted = re.findall(r'<table class="rates small">(.*?)</table>', html, re.DOTALL)
    assert len(quoted) == len(BUILT_IN)
    for table in quoted:
        for row in re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td>", table, re.DOTALL):
            assert html_lib.unescape(row[1]) in known, row
    # nothing else in the section reads as a rate: descriptions hold thresholds only
    outside = re.sub(r'<table class="rates small">.*?</table>', "", html, flags=re.DOTALL)
    for sentence in re.split(r"(?<=[.;])\s", text_of(outside)):
        if re.search(r"precision|recall|FAR\b|AUC|TAR\b|IoU|false (?:positive|match)", sentence):
            assert not RATE.search(sentence), sentence


def test_rows_show_measured_on_date_and_seed() -> None:
    text = html_lib.unescape(text_of(methods_html()))
    for rate in measured_rates():
        assert rate.measured_on in text
        if rate.seed:
            assert rate.seed in text
        if rate.date:
            assert rate.date in text
    held = [r.held_out for r in measured_rates()]
    html = methods_html()
    assert html.count('<span class="badge ok">held out</span>') == held.count(True) > 0
    assert html.count(">not held out</span>") == held.count(False)


def test_built_in_methods_take_their_rates_from_the_file_not_their_own_text() -> None:
    for name in BUILT_IN:
        assert [e.value for e in method_text(name).rates] == [r.value for r in rates_of(name)]
    # a plug-in's own text is kept (its rates are its own, marked so in the report)
    assert "brightness" not in {r.method for r in measured_rates()}
    assert registry.get("explicit").method.description == method_text("explicit").description


def test_limitations_quote_no_rate_of_their_own() -> None:
    """A rate quoted outside the methods section would be one the file does not hold."""
    from types import SimpleNamespace

    from consentry.reports.collect import _limitations
    from consentry.reports.options import ReportOptions

    persons = SimpleNamespace(up_to_date=True)
    for options in (ReportOptions(), ReportOptions(redact=True, person="E1")):
        for line in _limitations(options, persons, "ok", {}):  # type: ignore[arg-type]
            assert not re.search(r"\d+(?:\.\d+)? ?%|\b0\.\d+", line), line
