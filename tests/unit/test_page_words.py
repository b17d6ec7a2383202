"""Every word a page asks for by name exists in its service's table, in Chinese and English: a
missing one would show as its key."""

import re
from pathlib import Path

import pytest
from starlette.requests import Request

from services.common.code_words import value_label
from services.intake import words as customer_words
from services.reporting import words as dashboard_words
from services.workflow.console import labels as console_words
from services.workflow.console.rendering import PAGES as CONSOLE_PAGES
from services.workflow.routing import RoutingError, load_routing

ROOT = Path(__file__).resolve().parents[2]
PAGES = {
    "console": (ROOT / "services/workflow/console/templates", console_words.LABELS),
    "dashboard": (ROOT / "services/reporting/templates", dashboard_words.LABELS),
    "customer": (ROOT / "services/intake/templates", customer_words.LABELS),
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
    assert len(computed) == 6
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
    from services.workflow.contract.view import Stage

    for stage in Stage:
        for zh, en in (customer_words.STAGE[stage], customer_words.NEXT_STEP[stage]):
            assert re.search(r"[\u4e00-\u9fff]", zh) and en and not re.search(r"[\u4e00-\u9fff]", en), stage


def test_each_form_a_customers_page_may_refuse_has_its_words():
    pages = (ROOT / "services/intake/customer_pages.py").read_text()
    refusals = set(re.findall(r'_page_after\([^)]*"(\w+)"', pages))
    assert refusals == {"survey_not_open", "no_question_open", "cannot_reopen"}, refusals
    assert refusals <= set(customer_words.LABELS)


def test_a_customers_page_speaks_their_choice_then_their_complaints_language_then_their_browsers():
    def reader(cookie: str | None = None, accept: str = "") -> Request:
        headers = [(b"accept-language", accept.encode())]
        if cookie:
            headers.append((b"cookie", f"{customer_words.LANG_COOKIE}={cookie}".encode()))
        return Request({"type": "http", "headers": headers})

    assert customer_words.page_language(reader(), "en") == "en"
    assert customer_words.page_language(reader(), "zh-CN") == "zh"
    assert customer_words.page_language(reader(cookie="en"), "zh-CN") == "en"  # the switch wins
    assert customer_words.page_language(reader(cookie="fr"), "en") == "en"  # a cookie we never set
    assert customer_words.page_language(reader(accept="en-GB,en;q=0.9,zh;q=0.5")) == "en"  # the form
    assert customer_words.page_language(reader(accept="fr-FR,zh-TW;q=0.8")) == "zh"
    assert customer_words.page_language(reader()) == "zh"


def test_every_field_the_web_form_may_ask_again_has_its_name_and_its_request():
    from services.intake.customer_pages import _FORM_FIELD

    for field in {*_FORM_FIELD.values(), "form"}:
        assert f"problem_{field}" in customer_words.LABELS, field
        assert field == "form" or field in customer_words.LABELS, field


@pytest.mark.parametrize(
    ("address", "lang", "shown"),
    [
        ("staff:ma.jun", "en", "Ma Jun"),
        ("staff:someone.gone", "en", "someone.gone"),  # no longer on the roster: the id
        ("role:group_lead@senior-agents", "en", "group lead · Senior agents"),
        ("role:group_lead@senior-agents", "zh", "组长 · 资深客服组"),
        ("role:queue@liaison-operations", "en", "queue: Operations liaison"),
        ("role:queue@liaison-operations", "zh", "队列: 运营业务联络组"),
    ],
)
def test_an_alert_says_whom_it_reached_in_words(address, lang, shown):
    """My work lists the alerts that reached a person as them, as their group's queue, or in a
    role of a group's escalation chain: said in words, the address itself on hover."""
    config = load_routing()
    marks = CONSOLE_PAGES.env.get_template("_marks.html").make_module(
        {
            "names": {"ma.jun": "Ma Jun"},
            "g": lambda group: config.title_of(group, lang),
            "t": lambda key: console_words.label(key, lang),
            "v": lambda kind, value: value_label(kind, value, lang),
        }
    )
    html = str(marks.addressee(address))
    assert re.sub(r"<[^>]+>", "", html).strip() == shown
    assert f'title="{address}"' in html


def test_every_box_of_every_action_form_has_its_words():
    """The action forms name their boxes in code (console/forms.py), not in the templates."""
    from services.workflow.console.forms import FORMS

    boxes = {field.label or field.name for form in FORMS for field in form.fields if field.kind != "decision"}
    assert not boxes - set(console_words.LABELS), sorted(boxes - set(console_words.LABELS))
