"""The catalogue holds all of Annex A: 4 domains, 29 areas, 57 indicators, 6 clinical priorities.

Provenance: NHS England, CCG improvement and assessment framework 2016/17, Annex A
(../shared/seeds/001_be11b947d562488b.txt). Names are checked against the seed text itself.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from iaf import catalogue
from iaf.catalogue import CATALOGUE, CLINICAL_PRIORITIES, DOMAINS, areas_of, indicators_where


def test_counts_match_annex_a():
    assert len(CATALOGUE) == 57
    assert len(areas_of()) == 29
    assert DOMAINS == ("Better Health", "Better Care", "Sustainability", "Leadership")
    assert len(CLINICAL_PRIORITIES) == 6


@pytest.mark.parametrize(
    ("domain", "n_indicators", "n_areas"),
    [("Better Health", 13, 8), ("Better Care", 30, 11), ("Sustainability", 8, 5),
     ("Leadership", 6, 5)],
)  # fmt: skip
def test_domain_breakdown(domain, n_indicators, n_areas):
    assert len(indicators_where(domain=domain)) == n_indicators
    assert len(areas_of(domain)) == n_areas


def test_codes_unique_and_framework_shaped():
    codes = [i.code for i in CATALOGUE]
    assert len(set(codes)) == 57
    assert codes[0] == "101a" and codes[-1] == "165a"
    assert all(re.fullmatch(r"1[0-6]\d[a-f]", c) for c in codes)


def test_every_clinical_priority_has_indicators():
    for cp in CLINICAL_PRIORITIES:
        assert indicators_where(clinical_priority=cp), cp


def test_fields_take_declared_values():
    for ind in CATALOGUE:
        assert ind.value_type in catalogue.VALUE_TYPES, ind.code
        assert ind.polarity in catalogue.POLARITIES, ind.code
        assert ind.frequency in catalogue.FREQUENCIES, ind.code
        assert ind.domain in DOMAINS, ind.code
        assert ind.multiplier > 0 and ind.unit and ind.definition, ind.code


def _annex_a_names(seed_text: str) -> list[str]:
    annex = seed_text.split("## Annex A", 1)[1]
    names = []
    for line in annex.splitlines():
        if "\t" not in line or line.startswith("Area\t") or line.startswith("<b>"):
            continue
        name = line.split("\t")[-1].strip()
        if name:
            names.append(name)
    return names


def test_every_annex_a_name_is_present(real_dir):
    seed = real_dir.parents[1] / "seeds" / "001_be11b947d562488b.txt"
    names = _annex_a_names(seed.read_text(encoding="utf-8"))
    assert len(names) == 57
    assert [i.name for i in CATALOGUE] == names


def test_by_code_names_unknown_code():
    assert catalogue.by_code("123a").clinical_priority == "Mental health"
    with pytest.raises(KeyError, match="unknown indicator code '999z'"):
        catalogue.by_code("999z")


def test_catalogue_frame_columns():
    frame = catalogue.catalogue_frame()
    assert list(frame.columns[:8]) == [
        "code", "name", "domain", "area", "clinical_priority", "value_type", "polarity",
        "frequency",
    ]  # fmt: skip
    assert len(frame) == 57


def test_importing_iaf_does_not_import_streamlit():
    code = (
        "import sys, importlib, pkgutil, iaf\n"
        "for m in pkgutil.walk_packages(iaf.__path__, 'iaf.'):\n"
        "    importlib.import_module(m.name)\n"
        "assert 'streamlit' not in sys.modules, 'iaf imported streamlit'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
