"""The Python examples of README.md and docs/*.md run as written.

A page's ```python blocks run in order, each in a fresh namespace, in one working
directory per page, so a block may read a file that an earlier block of its page wrote.
A block that cannot run here (it needs tf_keras, a device, ...) is preceded by the line
`<!-- test-skip: reason -->` and is reported as a skipped test with that reason.
"""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^(?:<!-- test-skip:(?P<skip>.*?)-->\n)?```python\n(?P<code>.*?)^```", re.S | re.M)


def _blocks(page):
    """(where, code, skip reason or None) for each python block of `page`."""
    text = page.read_text()
    name = page.relative_to(ROOT).as_posix()
    found = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("code")) + 1
        skip = match["skip"].strip() if match["skip"] is not None else None
        found.append((f"{name}:{line}", match["code"], skip))
    return found


BLOCKS = {page.relative_to(ROOT).as_posix(): _blocks(page) for page in PAGES}
RUNNABLE = {name: [b for b in blocks if b[2] is None] for name, blocks in BLOCKS.items()}
SKIPPED = [(where, skip) for blocks in BLOCKS.values() for where, _, skip in blocks if skip is not None]


def test_readme_has_examples():
    assert len(RUNNABLE["README.md"]) >= 3


def test_skipped_examples_say_why():
    assert all(reason for _, reason in SKIPPED), SKIPPED


@pytest.mark.parametrize("page", [name for name, blocks in RUNNABLE.items() if blocks])
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples write files (m.keras, model.tflite, ...)
    for where, code, _ in RUNNABLE[page]:
        exec(compile(code, where, "exec"), {})


@pytest.mark.parametrize("where, reason", SKIPPED, ids=[where for where, _ in SKIPPED])
def test_skipped_example(where, reason):
    pytest.skip(f"{where}: {reason}")
