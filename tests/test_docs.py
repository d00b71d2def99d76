"""The README tells the truth: rules, options and metrics are checked against the code they describe."""

from __future__ import annotations

import re

from tests.support import ROOT
from webhook.rules.connectionpool import SCHEMA
from webhook.serve import metrics
from webhook.serve.settings import Settings
from webhook.tools.reference import rules_table, wording_table

README = (ROOT / "README.md").read_text()


def between(start: str, end: str) -> str:
    return README.split(start, 1)[1].split(end, 1)[0]


def test_rules_table_is_generated_from_the_schema() -> None:
    assert between("<!-- rules-table", "<!-- end rules-table -->").split("-->", 1)[1].strip() == rules_table(SCHEMA)


def test_wording_table_is_generated_from_the_rows() -> None:
    assert between("<!-- wording-table", "<!-- end wording-table -->").split("-->", 1)[1].strip() == wording_table()


def test_every_option_and_its_environment_variable_are_documented() -> None:
    for name, info in Settings.model_fields.items():
        option = "--" + name.replace("_", "-")
        row = next((line for line in README.splitlines() if line.startswith(f"| `{option}` |")), None)
        assert row is not None, option
        assert f"`{Settings.env_name(name)}`" in row
        default = info.default
        assert (f"`{default}`" if default is not None else "none") in row, row


def test_every_metric_is_documented() -> None:
    table = between("<!-- metrics-table", "<!-- end metrics-table -->")
    documented = set(re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE))
    exported = {m.name + ("_total" if m.type == "counter" else "") for m in metrics.REGISTRY.collect()}
    assert documented == exported


def test_the_two_setup_commands_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in ("run", "test"):
        assert f"make {target}" in README
        assert re.search(rf"^{target}:", makefile, re.MULTILINE)
