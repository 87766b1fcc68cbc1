"""The README's "one line per module" tree lists exactly the package's modules, so a newcomer's map stays true."""

from __future__ import annotations

import re

from repo import PLUGIN_DIR, REPO_ROOT


def readme_modules(readme: str) -> set[str]:
    """The module paths (relative to the repository) in the README's tree under "One line per module"."""
    section = readme.split("### One line per module", 1)[1]
    block = section.split("```", 2)[1]
    stack: list[tuple[int, str]] = []
    modules = set()
    for line in block.splitlines():
        match = re.match(r"( *)(\S+)", line)
        if not match:
            continue
        indent, name = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = "".join(part for _, part in stack) + name
        if name.endswith("/"):
            stack.append((indent, name))
        elif name.endswith(".py"):
            modules.add(path)
    return modules


def test_the_readme_tree_names_every_module_and_nothing_else() -> None:
    listed = readme_modules((REPO_ROOT / "README.md").read_text())
    on_disk = {p.relative_to(REPO_ROOT).as_posix() for p in (PLUGIN_DIR / "r2k8s").rglob("*.py")}
    undocumented_inits = {p for p in on_disk if p.endswith("/__init__.py")} - listed
    assert sorted(on_disk - listed - undocumented_inits) == []
    assert sorted(listed - on_disk) == []


def test_the_parser_follows_nesting() -> None:
    text = "### One line per module\n\n```\nroot/\n  a.py  x\n  sub/\n    b.py  y\n    deep/c.py z\n  d.py\n```\n"
    assert readme_modules(text) == {"root/a.py", "root/sub/b.py", "root/sub/deep/c.py", "root/d.py"}
