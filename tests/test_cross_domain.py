"""Leave-one-domain-out (issue 19, UPAR task 1's question): a real ``cross_domain`` Kedro run trains each variant
without each attribute source of the ``upar`` set and measures PAR on the held-out one; bad settings fail in one
line."""

from __future__ import annotations

import json

import pytest

from knowledge_assembly.config import ConfigError
from knowledge_assembly.files import latest_version
from knowledge_assembly.sources import chosen_source_set
from tests.test_source_sets import SETS, SOURCES


def test_each_attribute_source_is_held_out_once_and_the_table_reports_par_there(raw_project):
    raw_project.run(
        ["cross_domain"], cross_domain={"variants": ["par_only", "mtl"]}, paper={"seeds": [0]}, training={"epochs": 1}
    )
    folder = raw_project.data / "08_reporting" / "synthetic" / "cross_domain"
    runs = json.loads(latest_version(folder / "metrics.json").read_text())
    assert list(runs) == ["pa100k", "peta"] and all(
        list(by_variant) == ["par_only", "mtl"] for by_variant in runs.values()
    )
    assert runs["pa100k"]["mtl"][0]["settings"]["source_set"] == "upar-pa100k"
    assert runs["peta"]["par_only"][0]["settings"]["source_set"] == "upar-peta"
    checkpoints = {path.name for path in (raw_project.data / "06_models" / "synthetic" / "checkpoints").glob("*.pt")}
    assert {"mtl_without_pa100k-seed0.pt", "par_only_without_peta-seed0.pt"} <= checkpoints
    table = latest_version(folder / "table.md").read_text()
    header, _, *rows = [line for line in table.splitlines() if line.startswith("|")]
    assert "pa100k held out mA" in header and "peta held out mA" in header
    held_out_pa100k = 100 * runs["pa100k"]["mtl"][0]["par/pa100k"]["mA"]
    held_out_peta = 100 * runs["peta"]["mtl"][0]["par/peta"]["mA"]
    assert [cell.strip() for cell in rows[1].split("|")[1:-1]] == [
        "mtl",
        "1",
        f"{held_out_pa100k:.2f}",
        f"{held_out_peta:.2f}",
    ]


def test_a_set_with_one_attribute_source_cannot_hold_one_out():
    with pytest.raises(
        ConfigError, match=r"cross_domain.source_set=paper: .* needs two attribute sources .* \(pa100k\)"
    ):
        chosen_source_set(SOURCES, SETS, "paper").held_out_sets()
    held_out = chosen_source_set(SOURCES, SETS, "upar").held_out_sets()
    assert {name: s.names for name, s in held_out.items()} == {
        "pa100k": ("market1501", "peta"),
        "peta": ("market1501", "pa100k"),
    }


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"variants": ["par_onyl"]},
            r"cross_domain.variants: unknown variant 'par_onyl' \(did you mean 'par_only'\?\)",
        ),
        ({"source_set": "paper"}, r"cross_domain.source_set=paper: leave-one-domain-out needs two attribute sources"),
        ({"source_set": "upr"}, r"unknown source set 'cross_domain.source_set=upr' \(did you mean 'upar'\?\)"),
    ],
)
def test_bad_settings_fail_in_one_line_before_any_node_runs(raw_project, settings, message):
    with pytest.raises(ConfigError, match=message) as error:
        raw_project.run(["cross_domain"], cross_domain=settings)
    assert "\n" not in str(error.value) and not raw_project.primary().exists()
