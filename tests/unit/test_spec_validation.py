"""Numbered broken specs: each must fail validation naming the field and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from playbooks.errors import SpecError
from playbooks.loader import CATALOG_DIR, catalog_ids, load_spec

BAD = sorted((Path(__file__).parent / "specs" / "bad").glob("*.yaml"))


def _expectation(path: Path) -> tuple[str, str]:
    first = path.read_bytes().splitlines()[0].decode("ascii")
    loc, _, msg = first.removeprefix("# expect:").partition("|")
    return loc.strip(), msg.strip()


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_broken_spec_is_rejected_with_field_and_reason(path: Path) -> None:
    loc, msg = _expectation(path)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    err = info.value
    assert err.path == str(path)
    assert any(p_loc == loc and msg in p_msg for p_loc, p_msg in err.problems), err.problems
    assert str(path) in str(err)


def test_every_catalog_spec_loads_and_names_registered_plugins() -> None:
    assert "data-drift" in catalog_ids()
    for pid in catalog_ids():
        spec = load_spec(CATALOG_DIR / f"{pid}.yaml")
        assert spec.id == pid
        assert len(spec.hypotheses) >= 3
        assert len(spec.hash) == 16
