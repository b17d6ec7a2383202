"""Every word a page asks for by name exists in its service's table, in Chinese and English: a
missing one would show as its key."""

import re
from pathlib import Path

import pytest

from services.reporting import words as dashboard_words
from services.workflow.console import labels as console_words
from services.workflow.routing import RoutingError, load_routing

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


def test_every_group_has_a_title_in_both_languages_and_an_unknown_one_shows_its_id():
    config = load_routing()
    for group in config.groups:
        zh, en = config.title_of(group, "zh"), config.title_of(group, "en")
        assert re.search(r"[\u4e00-\u9fff]", zh) and zh != group, group
        assert en != group and not re.search(r"[\u4e00-\u9fff]", en), group
    assert config.title_of("a-group-gone-from-the-file", "zh") == "a-group-gone-from-the-file"
    assert config.title_of(None, "en") == ""


def test_a_group_title_that_is_not_a_table_of_names_is_refused(tmp_path):
    bad = tmp_path / "routing.toml"
    bad.write_text('[groups.a]\nstrategy = "round_robin"\ntitle = "A"\n', encoding="utf-8")
    with pytest.raises(RoutingError, match="groups.a: title"):
        load_routing(bad)


def test_the_customers_page_says_each_stage_and_what_comes_next_in_both_languages():
    from services.intake.customer_api import NEXT_STEP, STAGE_LABEL
    from services.workflow.contract.view import Stage

    for stage in Stage:
        for text in (STAGE_LABEL[stage], NEXT_STEP[stage]):
            zh, _, en = text.partition(" / ")
            assert re.search(r"[\u4e00-\u9fff]", zh) and en and not re.search(r"[\u4e00-\u9fff]", en), text
