"""Every word a page asks for by name exists in its service's table, in Chinese and English: a
missing one would show as its key."""

import re
from pathlib import Path

import pytest

from services.reporting import words as dashboard_words
from services.workflow.console import labels as console_words

ROOT = Path(__file__).resolve().parents[2]
PAGES = {
    "console": (ROOT / "services/workflow/console/templates", console_words.LABELS),
    "dashboard": (ROOT / "services/reporting/templates", dashboard_words.LABELS),
}


@pytest.mark.parametrize("pages", sorted(PAGES))
def test_every_word_a_page_names_is_in_its_table(pages):
    folder, table = PAGES[pages]
    asked = {key for page in folder.glob("*.html") for key in re.findall(r"\bt\('([^']+)'\)", page.read_text())}
    assert asked, f"no words found in {folder}"
    assert not asked - set(table), f"{pages} pages ask for words it lacks: {sorted(asked - set(table))}"


@pytest.mark.parametrize("pages", sorted(PAGES))
def test_each_word_has_chinese_and_english(pages):
    for key, (zh, en) in PAGES[pages][1].items():
        assert re.search(r"[\u4e00-\u9fff]", zh), f"{pages} {key}: {zh!r}"
        assert en and not re.search(r"[\u4e00-\u9fff]", en), f"{pages} {key}: {en!r}"


def test_the_dashboard_names_each_figure_the_reports_compute():
    computed = re.findall(r'Figure\(name="([^"]+)"', (ROOT / "services/reporting/reports.py").read_text())
    assert len(computed) == 4
    assert not set(computed) - set(dashboard_words.LABELS)
