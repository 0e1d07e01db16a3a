"""``retail-assets ledger show|release``: the operator's view of and way out of day claims."""

from __future__ import annotations

from datetime import date

from retail_assets.cli import main
from retail_assets.lake.ledger import Ledger


def test_show_lists_claims_and_release_removes_only_the_named_path(retail_env, capsys) -> None:
    assert main(["ledger", "show"]) == 0
    assert "no claimed days" in capsys.readouterr().out
    assert not (retail_env.state_dir / "ledger.duckdb").exists()  # reading never creates the ledger

    ledger = Ledger(retail_env.state_dir)
    ledger.claim(date(2024, 1, 2), "stream", "s")
    ledger.claim(date(2024, 1, 1), "batch", "b")
    assert main(["ledger", "show"]) == 0
    assert capsys.readouterr().out.split() == ["2024-01-01", "batch", "claimed", "2024-01-02", "stream", "claimed"]
    ledger.mark_generated(date(2024, 1, 1), "batch")
    ledger.mark_generated(date(2024, 1, 2), "stream")
    assert main(["ledger", "show"]) == 0
    assert capsys.readouterr().out.split() == ["2024-01-01", "batch", "landed", "2024-01-02", "stream", "generated"]

    assert main(["ledger", "release", "2024-01-02", "--path", "batch"]) == 1
    assert "no batch claim on 2024-01-02 (owner: stream)" in capsys.readouterr().out
    assert main(["ledger", "release", "2024-01-02", "--path", "stream"]) == 0
    assert ledger.owner_of(date(2024, 1, 2)) is None
    assert ledger.owner_of(date(2024, 1, 1)) == "batch"


def test_release_with_a_bad_date_names_the_format(retail_env, capsys) -> None:
    assert main(["ledger", "release", "02/01/2024", "--path", "stream"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
