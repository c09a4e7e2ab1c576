"""Generated tables live in the pages a reader opens (README.md and docs/*.md), between a pair of
markers ``<!-- benchmark:NAME -->`` ... ``<!-- /benchmark:NAME -->``; a benchmark rewrites what is
between them from its results file, and nothing else of the page."""

from __future__ import annotations

from pathlib import Path

from ..core import write_text_atomically


class MarkerError(ValueError):
    """A generated table has no place, or more than one, in README.md and docs/*.md."""


def marked_pages(root: Path) -> list[Path]:
    """The pages that hold generated tables: README.md and docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def put_between_markers(marker: str, table: str, root: Path) -> Path:
    """Write table between <!-- benchmark:MARKER --> and <!-- /benchmark:MARKER --> in the one page
    of ``root``'s README.md and docs/*.md that has them; return that page. The page is replaced whole (a
    temporary file renamed over it), so a reader never sees half of it."""
    start, end = f"<!-- benchmark:{marker} -->", f"<!-- /benchmark:{marker} -->"
    texts = {page: page.read_text() for page in marked_pages(root) if page.exists()}
    found = {page: text for page, text in texts.items() if start in text or end in text}
    where = "README.md or docs/*.md"
    if not found:
        raise MarkerError(f"benchmark:{marker}: markers {start} ... {end} not found in {where}")
    places = sum(text.count(start) + text.count(end) for text in found.values())
    if len(found) > 1 or places > 2:
        names = ", ".join(str(page.relative_to(root)) for page in found)
        raise MarkerError(f"benchmark:{marker}: markers found in several places ({names}); "
                         f"keep exactly one {start} ... {end} pair in {where}")
    (page, text), = found.items()
    if start not in text or end not in text or text.index(end) < text.index(start):
        raise MarkerError(f"benchmark:{marker}: {page.relative_to(root)} needs {start} followed by {end}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    write_text_atomically(page, f"{head}{start}\n{table}{end}{tail}", mode=page.stat().st_mode & 0o777)
    return page
