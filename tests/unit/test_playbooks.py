"""Playbooks (source 000): suggested by the complaint's type and words, from configuration."""

import pytest

from services.workflow.playbooks import PlaybookError, load_playbooks, suggest

BOOKS = load_playbooks()


def test_the_playbook_for_a_complaints_words_and_type_comes_first():
    late = suggest(BOOKS, "process_problem", "My parcel has not arrived after two weeks, the courier says nothing")
    assert late[0].id == "logistics-delay" and late[0].remedy.kind == "gift"
    assert suggest(BOOKS, "process_problem", "订单被重复扣款了，请退款")[0].id == "double-charge"
    assert suggest(BOOKS, "service_attitude", "The clerk was rude")[0].id == "staff-attitude"
    assert suggest(BOOKS, "other", "Do you sell umbrellas?") == []
    assert all(b.title.zh and b.update.en for b in BOOKS)


def test_a_bad_playbook_file_is_refused_naming_the_playbook_and_field(tmp_path):
    path = tmp_path / "playbooks.toml"
    path.write_text(
        '[[playbook]]\nid = "x"\ntypes = []\nkeywords = []\n'
        'title = { en = "a", zh = "b" }\nsteps = { en = "a", zh = "b" }\nupdate = { en = "a", zh = "b" }\n'
    )
    with pytest.raises(PlaybookError, match=r"playbook 1 \(x\): keywords"):
        load_playbooks(path)
