"""The docs tell the truth: generated tables and pages are what the code generates now, every option, metric and page
is where a reader looks for it, and every link lands (on GitHub as on the site, which `make docs` builds strictly)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT
from webhook.rules import releases
from webhook.rules.connectionpool import SCHEMA
from webhook.rules.schema import Boolean, Integer, Object, String
from webhook.serve import metrics
from webhook.serve.settings import Settings
from webhook.tools import reference
from webhook.tools.reference import api_reference, block, rules_table, wording_table

DOCS = ROOT / "docs"
README = ROOT / "README.md"
CHART_README = ROOT / "charts" / "connectionpool-webhook" / "README.md"
README_LIMIT = 12_000


def page(name: str) -> str:
    return (DOCS / name).read_text()


def table_rows(text: str, marker: str) -> list[str]:
    """The rows of the Markdown table between ``<!-- marker ... -->`` and ``<!-- end marker -->``."""
    return [line for line in block(text, marker).splitlines() if line.startswith("| `")]


# --- Generated content ---------------------------------------------------------------------------------------------

def test_rules_table_is_generated_from_the_schema() -> None:
    assert block(page("rules.md"), "rules-table") == rules_table(SCHEMA, releases.CHANGES)


def test_wording_table_is_generated_from_the_rows() -> None:
    assert block(page("rules.md"), "wording-table") == wording_table()


def test_api_reference_page_is_generated_from_the_schema() -> None:
    assert page("api-reference/connectionpool.md") == api_reference(SCHEMA, releases.CHANGES)


def test_the_releases_table_is_generated_from_the_changes() -> None:
    table = block(page("rules.md"), "releases-table")
    assert table == reference.releases_table(releases.CHANGES)
    assert len(table.splitlines()) == len(releases.CHANGES) + 2
    for change in releases.CHANGES:
        assert f"| {change.release} | `{change.field}` | {change.edit.describe()} | {change.source} |" in table


def test_the_api_reference_says_from_which_release_each_rule_applies() -> None:
    text = page("api-reference/connectionpool.md")
    # A field v0.8.0 had, with what later releases changed; a field a later release added.
    project = next(line for line in text.splitlines() if line.startswith("- [`project`]"))
    assert "From v0.20.0: must match `^[a-zA-Z0-9_-]+$`." in project
    assert "From v0.20.0: CEL rule `self == oldSelf`: Value is immutable." in project
    labels = next(line for line in text.splitlines() if line.startswith("- [`labels`]"))
    assert "(object, AdditionalProperties: string)" in labels and "From v0.12.0: added: a map of strings." in labels


def test_the_regenerating_command_finds_the_checkout_current() -> None:
    assert reference.main([]) == 0


def test_the_regenerating_command_rewrites_what_is_stale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in (reference.RULES_PAGE, reference.API_REFERENCE):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    rules_page = page("rules.md")
    stale = rules_page.replace(block(rules_page, "wording-table"), "| versions |\n| --- |\n| stale |")
    (tmp_path / reference.RULES_PAGE).write_text(stale)
    (tmp_path / reference.API_REFERENCE).write_text("stale\n")

    assert reference.main(["--root", str(tmp_path)]) == 1
    assert "not current" in capsys.readouterr().err
    assert (tmp_path / reference.RULES_PAGE).read_text() == stale  # checking writes nothing

    assert reference.main(["--root", str(tmp_path), "--write"]) == 0
    assert (tmp_path / reference.RULES_PAGE).read_text() == rules_page
    assert (tmp_path / reference.API_REFERENCE).read_text() == api_reference(SCHEMA, releases.CHANGES)
    assert reference.main(["--root", str(tmp_path)]) == 0


def test_api_reference_layout_of_every_kind_of_node() -> None:
    """The aiven-operator page layout on a schema with what ConnectionPool lacks: booleans, min and max lengths
    together, objects two deep, an object without properties, descriptions with and without a full stop."""
    schema = Object(description="Thing is a test kind", properties={
        "apiVersion": String(required=True, enum=("example.com/v1",)),
        "kind": String(required=True, enum=("Thing",)),
        "metadata": Object(required=True, properties={"name": String(required=True, blank_is_missing=True)}),
        "spec": Object(required=True, description="The spec.", properties={
            "zeta": Boolean(description="Last by name, first declared"),
            "mode": String(required=True, enum=("a", "b"), min_length=1, max_length=9, description="Mode."),
            "size": Integer(),
            "free": Object(description="No properties declared."),
            "outer": Object(properties={
                "inner": Object(required=True, description="Deep.", properties={"key": String(min_length=2)}),
            }),
        }),
    })
    assert api_reference(schema) == "\n".join([
        "---",
        'title: "Thing"',
        "---",
        "",
        "## Schema {: #Schema }",
        "",
        "Thing is a test kind.",
        "",
        "**Required**",
        "",
        "- [`apiVersion`](#apiVersion-property){: name='apiVersion-property'} (string). "
        "Must be equal to `example.com/v1`.",
        "- [`kind`](#kind-property){: name='kind-property'} (string). Must be equal to `Thing`.",
        "- [`metadata`](#metadata-property){: name='metadata-property'} (object). Data that identifies the object, "
        "including a `name` string and optional `namespace`.",
        "- [`spec`](#spec-property){: name='spec-property'} (object). The spec. "
        "See below for [nested schema](#spec).",
        "",
        "## spec {: #spec }",
        "",
        "The spec.",
        "",
        "**Required**",
        "",
        "- [`mode`](#spec.mode-property){: name='spec.mode-property'} (string, Enum: `a`, `b`, MinLength: 1, "
        "MaxLength: 9). Mode.",
        "",
        "**Optional**",
        "",
        "- [`free`](#spec.free-property){: name='spec.free-property'} (object). No properties declared.",
        "- [`outer`](#spec.outer-property){: name='spec.outer-property'} (object).  "
        "See below for [nested schema](#spec.outer).",
        "- [`size`](#spec.size-property){: name='spec.size-property'} (integer). ",
        "- [`zeta`](#spec.zeta-property){: name='spec.zeta-property'} (boolean). Last by name, first declared.",
        "",
        "## outer {: #spec.outer }",
        "",
        "**Required**",
        "",
        "- [`inner`](#spec.outer.inner-property){: name='spec.outer.inner-property'} (object). Deep. "
        "See below for [nested schema](#spec.outer.inner).",
        "",
        "## inner {: #spec.outer.inner }",
        "",
        "Deep.",
        "",
        "**Optional**",
        "",
        "- [`key`](#spec.outer.inner.key-property){: name='spec.outer.inner.key-property'} (string, MinLength: 2). ",
        "",
        "",
    ])


def test_api_reference_needs_the_kind() -> None:
    with pytest.raises(ValueError, match="kind"):
        api_reference(Object(properties={"kind": String(enum=("A", "B"))}))


# --- What the code declares is documented --------------------------------------------------------------------------

def test_every_option_its_environment_variable_and_default_are_documented() -> None:
    rows = [line for line in page("operating.md").splitlines() if line.startswith("| `--")]
    documented = {row.split("`")[1] for row in rows}
    options = {"--" + name.replace("_", "-") for name in Settings.model_fields}
    assert documented == options
    for name, info in Settings.model_fields.items():
        row = next(line for line in rows if line.startswith(f"| `--{name.replace('_', '-')}` |"))
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        assert cells[1] == f"`{Settings.env_name(name)}`", row
        default = info.default
        default = default.value if hasattr(default, "value") else default
        assert cells[2] == (f"`{default}`" if default is not None else "none"), row


def test_every_metric_is_documented_with_its_type() -> None:
    rows = table_rows(page("operating.md"), "metrics-table")
    documented = {row.split("`")[1]: row.split("|")[2].strip() for row in rows}
    exported = {m.name + ("_total" if m.type == "counter" else ""): m.type for m in metrics.REGISTRY.collect()}
    assert documented == exported


# --- The README and the nav ----------------------------------------------------------------------------------------

def test_readme_is_short() -> None:
    assert len(README.read_text()) <= README_LIMIT


def test_the_two_setup_commands_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for text in (README.read_text(), page("getting-started.md")):
        for target in ("run", "test"):
            assert f"make {target}" in text
    for target in ("run", "test", "docs"):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE)


def doc_pages() -> set[str]:
    return {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}


def test_readme_links_to_every_docs_page() -> None:
    linked = {target.split("#")[0] for target in links(README.read_text())}
    assert {f"docs/{name}" for name in doc_pages()} <= linked


def nav_pages(entries: list[object]) -> list[str]:
    found: list[str] = []
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        found += nav_pages(value) if isinstance(value, list) else [str(value)]
    return found


def test_every_page_is_in_the_nav_once() -> None:
    nav = nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"])
    assert sorted(nav) == sorted(doc_pages())
    assert not [name for name, n in Counter(nav).items() if n > 1]


def test_the_site_turns_broken_links_into_errors() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["strict"] is True
    assert config["validation"]["links"] == {"not_found": "warn", "absolute_links": "warn",
                                              "unrecognized_links": "warn", "anchors": "warn"}
    assert config["validation"]["nav"]["omitted_files"] == "warn"


# --- One copy of the TLS text --------------------------------------------------------------------------------------

TLS_SECTION = "../../docs/install.md#tls-three-modes"
# Sentences only the TLS section says: anywhere else, they are a second copy to keep in step.
TLS_TEXT = ("calls webhooks only over HTTPS", "Needs `lookup` to keep the CA across upgrades",
            "--set tls.clientCA.configMap=", "`cert-manager.io/inject-ca-from`", "the issuer must be able to sign")


def markdown_files() -> list[Path]:
    """The repository's own Markdown: not the virtualenv, caches, scratch copies, the built site or test data."""
    def ours(path: Path) -> bool:
        parts = path.relative_to(ROOT).parts
        return not any(part.startswith(".") or part == "site" for part in parts) and parts[:2] != ("tests", "data")
    return sorted(path for path in ROOT.rglob("*.md") if ours(path))


def test_chart_readme_links_to_the_tls_section_instead_of_repeating_it() -> None:
    assert TLS_SECTION in links(CHART_README.read_text())
    install = " ".join(page("install.md").split())
    assert "## TLS: three modes" in install
    assert [sentence for sentence in TLS_TEXT if sentence in install] == list(TLS_TEXT)
    for path in markdown_files():
        if path != DOCS / "install.md":
            text = " ".join(path.read_text().split())
            assert not [sentence for sentence in TLS_TEXT if sentence in text], path


# --- Links ---------------------------------------------------------------------------------------------------------

def without_code(text: str) -> str:
    return re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.MULTILINE | re.DOTALL)


def links(text: str) -> list[str]:
    """The targets of the Markdown links outside code blocks and code spans."""
    prose = re.sub(r"`[^`\n]*`", "", without_code(text).replace("[`", "[").replace("`](", "]("))
    return re.findall(r"\]\(([^)\s]+)\)", prose)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: its text, lower case, without punctuation, spaces as hyphens."""
    text = re.sub(r"\[([^]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a link into ``path`` may name: headings as GitHub names them, numbered when repeated, and the
    explicit ``{: #id }`` and ``{: name='id'}`` anchors (attr_list) of the generated API reference."""
    text = without_code(path.read_text())
    found: set[str] = set(re.findall(r"\{: (?:#|name=')([\w.-]+)", text))
    seen: Counter[str] = Counter()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE):
        slug = github_anchor(re.sub(r"\s*\{:.*\}\s*$", "", heading))
        found.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return found


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_relative_links_and_anchors_resolve(path: Path) -> None:
    for target in links(path.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        name, _, anchor = target.partition("#")
        linked = (path.parent / name).resolve() if name else path
        assert linked.exists(), f"{target} from {path}"
        if anchor:
            assert anchor in anchors(linked), f"{target} from {path}"


def test_the_sarif_rules_help_lands_on_a_readme_section(tmp_path: Path) -> None:
    """`check --output sarif` points each rule at a section of the README (its helpUri's anchor)."""
    manifest = tmp_path / "pool.yaml"
    manifest.write_text("apiVersion: aiven.io/v1alpha1\nkind: ConnectionPool\nmetadata: {name: p}\n"
                        "spec: {databaseName: d, project: p, serviceName: s, username: u, poolMode: bogus}\n")
    result = subprocess.run([sys.executable, "-m", "webhook", "check", "--output", "sarif", str(manifest)],
                            capture_output=True, text=True, check=False, cwd=ROOT)
    rules = json.loads(result.stdout)["runs"][0]["tool"]["driver"]["rules"]
    assert rules
    for rule in rules:
        assert rule["helpUri"].partition("#")[2] in anchors(README), rule["helpUri"]


# --- Examples are real output --------------------------------------------------------------------------------------

def test_the_policy_page_shows_real_output() -> None:
    """The policy page's example is the command's output, shortened: every line shown (up to a "...") is in it."""
    typed = ["--kubernetes-version", "1.30", "--enforcement", "warn"]
    shown = page("policy.md").split(f"$ connectionpool-webhook policy {' '.join(typed)}\n", 1)[1].split("\n$ ", 1)[0]
    result = subprocess.run([sys.executable, "-m", "webhook", "policy", *typed],
                            capture_output=True, text=True, check=True, cwd=ROOT)
    output = result.stdout.splitlines()
    lines = [line for line in shown.splitlines() if line.strip() != "..."]
    assert len(lines) > 20
    for line in lines:
        assert any(out.startswith(line.split("...", 1)[0]) for out in output), line


def test_docs_build_needs_nothing_outside_docs() -> None:
    """The site's pages link only to pages of the site (mkdocs cannot follow ../ out of docs/)."""
    for path in DOCS.rglob("*.md"):
        for target in links(path.read_text()):
            name = target.partition("#")[0]
            if name and not re.match(r"[a-z]+:", name):
                assert (path.parent / name).resolve().is_relative_to(DOCS), f"{target} from {path}"
                assert Path(name).suffix == ".md", f"{target} from {path}"
