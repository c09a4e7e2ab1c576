"""The front page and the docs: README's claimed table equals the results file it comes from, the
README stays a front page, every relative link lands, every generated table's markers are whole.

Each check is a function that returns what is wrong (an empty list when nothing is), so that the
tests below can also show it catching a page that is wrong."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from movielens_fastai.reporting.markers import MarkerError, put_between_markers

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CLAIMED = ROOT / "benchmarks" / "results" / "claimed.json"
MAX_README_LINES = 220
FIRST_SCREEN = 30


def pages(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def between(text: str, name: str) -> str:
    start, end = f"<!-- benchmark:{name} -->", f"<!-- /benchmark:{name} -->"
    assert start in text and end in text, f"no {start} ... {end}"
    return text.split(start, 1)[1].split(end, 1)[0]


# --- the claimed table --------------------------------------------------------------------------

def table_rows(block: str) -> list[list[str]]:
    """The body rows of the first Markdown table in block, as stripped cells."""
    lines = [line.strip() for line in block.splitlines() if line.strip().startswith("|")]
    assert len(lines) >= 2 and set(lines[1]) <= set("|-: "), f"no table in:\n{block}"
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def shown(cell: str, value: float) -> list[str]:
    """What is wrong with cell as a display of value: its one number must be value rounded to the
    places the cell shows."""
    numbers = re.findall(r"\d+(?:\.\d+)?", cell.replace(",", ""))
    if len(numbers) != 1:
        return [f"{cell!r}: expected one number, for {value}"]
    places = len(numbers[0].split(".")[1]) if "." in numbers[0] else 0
    if float(numbers[0]) != round(float(value), places):
        return [f"{cell!r} != {value} rounded to {places} places"]
    return []


def claimed_problems(readme: str, claimed: dict) -> list[str]:
    """Every number (and name) in README's claimed table against claimed.json."""
    rows = table_rows(between(readme, "claimed"))
    entries = [claimed["article"], *claimed["rows"]]
    if len(rows) != len(entries):
        return [f"README's claimed table has {len(rows)} rows, claimed.json {len(entries)}"]
    problems = []
    for cells, entry in zip(rows, entries, strict=True):
        if len(cells) != 6:
            problems.append(f"{cells}: expected 6 cells")
            continue
        label, mse, fit, hardware, date, command = cells
        if "label" in entry:                      # the article's row
            problems += [] if label == entry["label"] else [f"{label!r} != {entry['label']!r}"]
            wanted_command = ""
        else:                                     # a measured row: its name and fastai version
            wanted = f"{entry['name']}, fastai {entry['versions']['fastai']}"
            problems += [] if label == wanted else [f"{label!r} != {wanted!r}"]
            wanted_command = f"`{entry['command']}`"
        if bool(entry.get("approximate")) != mse.startswith("about "):
            problems.append(f"{mse!r}: 'about' must be shown exactly when claimed.json says approximate")
        problems += shown(mse, entry["valid_mse"])
        if not fit.endswith(" s"):
            problems.append(f"{fit!r}: fit seconds must end in ' s'")
        problems += shown(fit, entry["fit_seconds"])
        problems += [] if hardware == entry["device"] else [f"{hardware!r} != {entry['device']!r}"]
        problems += [] if date == str(entry["date"]) else [f"{date!r} != {entry['date']!r}"]
        problems += [] if command == wanted_command else [f"{command!r} != {wanted_command!r}"]
    return problems


def test_claimed_table_equals_its_results_file():
    assert claimed_problems(README.read_text(), json.loads(CLAIMED.read_text())) == []


def test_claimed_json_holds_what_the_table_needs():
    claimed = json.loads(CLAIMED.read_text())
    assert [row["notebook"] for row in claimed["rows"]] == ["01_article", "02_port"]
    for row in claimed["rows"]:
        assert {"valid_mse", "fit_seconds", "versions", "device", "date", "command"} <= set(row)
        assert row["command"] == "make run" and "fastai" in row["versions"]


def _edits(claimed: dict) -> dict[str, tuple[str, str]]:
    """Hand edits of README's claimed table, each from the results file's own values: {why: (old, new)}."""
    original, port = claimed["rows"]
    mse = f"{original['valid_mse']:.4f}"
    fit = round(port["fit_seconds"])
    return {
        "a reproduced MSE edited by hand": (f"| {mse} |", f"| {float(mse) + 0.0001:.4f} |"),
        "a fit time": (f"| {fit} s |", f"| {fit + 1} s |"),
        "the article's claim": (f"| {claimed['article']['fit_seconds']} s |",
                                f"| {claimed['article']['fit_seconds'] + 1} s |"),
        "the claim shown as exact": ("| about 0.82 |", "| 0.82 |"),
        "another fastai": (f"port, fastai {port['versions']['fastai']}", "port, fastai 2.7.0"),
        "another date": (f"| {port['date']} | `make run` |", "| 2019-01-01 | `make run` |"),
    }


@pytest.mark.parametrize("edit", list(_edits(json.loads(CLAIMED.read_text()))))
def test_a_wrong_number_in_the_claimed_table_is_caught(edit):
    claimed = json.loads(CLAIMED.read_text())
    old, new = _edits(claimed)[edit]
    readme = README.read_text()
    block = between(readme, "claimed")
    assert old in block, f"{old!r} is not in README's claimed table"
    wrong = readme.replace(block, block.replace(old, new, 1))
    assert claimed_problems(wrong, claimed)


def _bench_run():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_claimed_table_is_the_one_its_suite_renders():
    """`benchmarks/run.py claimed --table-only` would leave README unchanged."""
    table = _bench_run().claimed_table(json.loads(CLAIMED.read_text()))
    assert between(README.read_text(), "claimed") == "\n" + table


# --- a front page ---------------------------------------------------------------------------------

def test_readme_is_a_front_page():
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move detail to docs/"
    first = [line.split("#")[0].strip() for line in lines[:FIRST_SCREEN]]
    assert "make run" in first, f"`make run` is not a command in README's first {FIRST_SCREEN} lines"
    assert "make test" in first, f"`make test` is not a command in README's first {FIRST_SCREEN} lines"


def test_readme_setup_figures_equal_the_routes_results():
    """The time and disk each PyTorch build's environments take, on the first screen, as
    `benchmarks/run.py routes` measured them (its table, rendered again from routes.json)."""
    results = json.loads((ROOT / "benchmarks" / "results" / "routes.json").read_text())
    assert set(results["routes"]) == {"cpu", "cuda"}
    readme = README.read_text()
    assert between(readme, "routes") == "\n" + _bench_run().routes_table(results)
    first = "\n".join(readme.splitlines()[:FIRST_SCREEN])
    assert "<!-- /benchmark:routes -->" in first, "the install table is not on README's first screen"
    for route in results["routes"].values():
        minutes, seconds = divmod(route["install_seconds"], 60)
        assert f"{minutes} min {seconds} s" in first and f"{route['total_disk_mib'] / 1024:.1f} GiB" in first


def test_readme_links_every_docs_page():
    readme = README.read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{page.name}" in readme, f"docs/{page.name} is not linked from README.md"


# --- links ----------------------------------------------------------------------------------------

FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")
COMMENT = re.compile(r"<!--.*?-->", re.S)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces to hyphens,
    -1, -2 ... on repeats."""
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(FENCE.sub("", markdown)):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
        slug = "".join(ch for ch in text if ch.isalnum() or ch in " -_").replace(" ", "-")
        out.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return out


def link_targets(markdown: str) -> list[str]:
    text = CODE_SPAN.sub("", COMMENT.sub("", FENCE.sub("", markdown)))
    return INLINE_LINK.findall(text) + REFERENCE.findall(text)


def link_problems(page: Path, root: Path = ROOT) -> list[str]:
    """Relative links in page that point to no file (or, for a '#' link into a Markdown page, to no
    heading there)."""
    root, problems = root.resolve(), []
    for target in link_targets(page.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("//"):
            continue                              # http:, https:, mailto: ...
        path, _, fragment = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        name = f"{page.resolve().relative_to(root)}: {target}"
        if not where.exists():
            shown_path = where.relative_to(root) if where.is_relative_to(root) else where
            problems.append(f"{name}: {shown_path} does not exist")
        elif root.resolve() not in (where, *where.parents):
            problems.append(f"{name}: points outside the project")
        elif fragment and where.suffix == ".md" and fragment not in anchors(where.read_text()):
            problems.append(f"{name}: no heading #{fragment} in {where.relative_to(root)}")
    return problems


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_land(page):
    assert link_problems(page) == []


def test_a_broken_link_is_caught(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n## Some heading: here\n")
    (tmp_path / "README.md").write_text(
        "# T\n\n[ok](docs/a.md) [ok](docs/a.md#some-heading-here) [web](https://example.org/x)\n"
        "`[not a link](nowhere.md)`\n\n```\n[nor this](nowhere.md)\n```\n"
        "[gone](docs/b.md) [no heading](docs/a.md#other) ![img](missing.png)\n[ref]: nothing/here.md\n")
    problems = link_problems(tmp_path / "README.md", tmp_path)
    assert len(problems) == 4, problems
    assert all(any(bad in p for p in problems) for bad in ("docs/b.md", "#other", "missing.png", "nothing/"))


def test_anchors_follow_github():
    found = anchors("# Top-10 lists: what should I watch next?\n## Against peers on the canonical u1–u5 "
                    "folds\n## The article's split, `seeds`\n## Notes\n## Notes\n")
    assert found == {"top-10-lists-what-should-i-watch-next", "against-peers-on-the-canonical-u1u5-folds",
                     "the-articles-split-seeds", "notes", "notes-1"}


# --- markers --------------------------------------------------------------------------------------

MARKER = re.compile(r"<!-- (/?)([\w-]+:[\w-]+) -->")


def marker_problems(texts: dict[str, str]) -> list[str]:
    """Every <!-- kind:name --> has its <!-- /kind:name --> after it in the same page, and each pair
    appears once across all the pages."""
    opened: dict[str, list[tuple[str, int]]] = {}
    closed: dict[str, list[tuple[str, int]]] = {}
    for page, text in texts.items():
        for m in MARKER.finditer(text):
            (closed if m.group(1) else opened).setdefault(m.group(2), []).append((page, m.start()))
    problems = []
    for name in sorted(set(opened) | set(closed)):
        starts, ends = opened.get(name, []), closed.get(name, [])
        if len(starts) != 1 or len(ends) != 1:
            places = ", ".join(sorted({page for page, _ in starts + ends}))
            problems.append(f"{name}: {len(starts)} opening and {len(ends)} closing markers ({places})")
        elif starts[0][0] != ends[0][0] or ends[0][1] < starts[0][1]:
            problems.append(f"{name}: <!-- /{name} --> must follow <!-- {name} --> in the same page")
    return problems


def test_markers_are_whole_and_unique():
    texts = {str(page.relative_to(ROOT)): page.read_text() for page in pages()}
    assert marker_problems(texts) == []
    names = {m.group(2) for text in texts.values() for m in MARKER.finditer(text)}
    assert {"benchmark:claimed", "benchmark:split", "benchmark:folds"} <= names


@pytest.mark.parametrize("texts, expected", [
    ({"README.md": "<!-- benchmark:a -->\n"}, "benchmark:a: 1 opening and 0 closing"),
    ({"README.md": "<!-- benchmark:a -->x<!-- /benchmark:a -->",
      "docs/b.md": "<!-- benchmark:a -->y<!-- /benchmark:a -->"}, "benchmark:a: 2 opening and 2 closing"),
    ({"README.md": "<!-- /benchmark:a -->x<!-- benchmark:a -->"}, "must follow"),
    ({"README.md": "<!-- benchmark:a -->", "docs/b.md": "<!-- /benchmark:a -->"}, "must follow"),
])
def test_broken_markers_are_caught(texts, expected):
    problems = marker_problems(texts)
    assert len(problems) == 1 and expected in problems[0], problems


# --- the writer of generated tables ----------------------------------------------------------------

def test_tables_are_written_between_their_one_pair_of_markers(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("# R\n<!-- benchmark:a -->\nold\n<!-- /benchmark:a -->\ntail\n")
    (tmp_path / "docs" / "b.md").write_text("# B\n<!-- benchmark:b -->\n<!-- /benchmark:b -->\n")
    assert put_between_markers("b", "| new |\n", tmp_path) == tmp_path / "docs" / "b.md"
    assert (tmp_path / "docs" / "b.md").read_text() == (
        "# B\n<!-- benchmark:b -->\n| new |\n<!-- /benchmark:b -->\n")
    put_between_markers("a", "A\n", tmp_path)
    assert (tmp_path / "README.md").read_text() == (
        "# R\n<!-- benchmark:a -->\nA\n<!-- /benchmark:a -->\ntail\n")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["README.md", "b.md", "docs"]   # no temporary left

    with pytest.raises(MarkerError, match="benchmark:c: .*not found"):
        put_between_markers("c", "C\n", tmp_path)
    (tmp_path / "docs" / "d.md").write_text("<!-- benchmark:a -->\n<!-- /benchmark:a -->\n")
    with pytest.raises(MarkerError, match=r"benchmark:a: .*several places \(README.md, docs/d.md\)"):
        put_between_markers("a", "A\n", tmp_path)
    assert (tmp_path / "README.md").read_text().count("A\n") == 1      # nothing written
