"""Compensation within authority (source 002): limits per role and kind from authority.toml."""

import pytest

from services.workflow.authority import AuthorityError, load_authority

AUTHORITY = load_authority()


def test_each_role_grants_up_to_its_limit_and_the_lowest_role_above_approves():
    assert AUTHORITY.covers("agent", "refund", 200) and not AUTHORITY.covers("agent", "refund", 201)
    assert AUTHORITY.covers("agent", "written_apology", None)
    assert AUTHORITY.approver_for("refund", 201) == "senior"
    assert AUTHORITY.approver_for("refund", 3000) == "department_head"
    assert AUTHORITY.approver_for("compensation", 20_000) == "manager"
    assert AUTHORITY.approver_for("refund", 1_000_000) is None  # nobody: refused at the API


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[limits.intern]\nrefund = 10\n", "unknown role 'intern'"),
        ("[limits.agent]\nvoucher = 10\n", "unknown kind 'voucher'"),
        ("[limits.agent]\nrefund = true\n", "refund must be an amount"),
        ("[limits.agent]\nreturn = 5\n", "return must be true or false"),
    ],
)
def test_a_bad_authority_file_is_refused_naming_the_role_and_kind(tmp_path, text, message):
    path = tmp_path / "authority.toml"
    path.write_text(text)
    with pytest.raises(AuthorityError, match=message):
        load_authority(path)
