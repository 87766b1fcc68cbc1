"""Joining files into the one stream the function reads: every file's bytes kept, each resource counted to its
file, whatever the files hold; a file that is no stream of resources is refused, naming it (and its line)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from r2k8s.core.errors import R2k8sError
from r2k8s.krm.manifests import Source
from r2k8s.resolve.stream import join


def source(name: str, text: str) -> Source:
    return Source(name, text, Path("/pkg") / name)


def test_files_without_a_final_newline_and_with_empty_documents_join_into_one_stream() -> None:
    joined = join(
        [
            source("a.yaml", "kind: A"),
            source("b.yaml", "---\n# only a comment\n---\nkind: B1\n---\n---\nkind: B2\n"),
            source("empty.yaml", "# nothing here\n"),
            source("c.json", '{"kind": "C"}'),
        ]
    )
    assert joined.counts == (1, 2, 0, 1)
    assert [file.name for file in joined.files] == ["a.yaml", "b.yaml", "b.yaml", "c.json"]
    assert [d for d in yaml.safe_load_all(joined.text) if d is not None] == list(joined.documents)
    assert [d["kind"] for d in joined.documents] == ["A", "B1", "B2", "C"]
    for text in ("kind: A", "---\n# only a comment\n---\nkind: B1\n---\n---\nkind: B2\n", '{"kind": "C"}'):
        assert text in joined.text


def test_crlf_files_are_joined_with_crlf_separators() -> None:
    joined = join([source("a.yaml", "kind: A\r\n"), source("b.yaml", "kind: B\r\n")])
    assert joined.text == "kind: A\r\n---\r\nkind: B\r\n"


def test_json_indented_with_tabs_is_read_and_kept_as_it_is() -> None:
    text = '{\n\t"kind": "Tabbed",\n\t"metadata": {"name": "x"}\n}'
    joined = join([source("a.yaml", "kind: A\n"), source("tabs.json", text)])
    assert joined.documents == ({"kind": "A"}, {"kind": "Tabbed", "metadata": {"name": "x"}})
    assert joined.text == "kind: A\n---\n" + text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: A\nmetadata: {name: [x}\n", "bad.yaml: line 2 column 20: not valid YAML: "),
        ("kind: A\n---\n- one\n- two\n", "bad.yaml: document 2: not a resource (a mapping): it is a list"),
        ("just words\n", "bad.yaml: not a resource (a mapping): it is a str"),
        (
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n",
            "bad.yaml: a ResourceList is the KRM function's input, not a manifest: pipe it to 'r2k8s fn'",
        ),
        ("a: &a [*a]\n", "bad.yaml: "),
    ],
)
def test_a_file_that_is_no_stream_of_resources_is_refused_naming_it(text: str, message: str) -> None:
    with pytest.raises(R2k8sError) as caught:
        join([source("good.yaml", "kind: Good\n"), source("bad.yaml", text)])
    assert caught.value.message.startswith(message)


_names = st.text("abcdefgh", min_size=1, max_size=6)
_document = st.fixed_dictionaries({"kind": _names, "metadata": st.fixed_dictionaries({"name": _names})})
_file = st.tuples(
    st.lists(st.one_of(_document, st.none()), max_size=4),
    st.booleans(),  # explicit first ---
    st.booleans(),  # final newline
    st.sampled_from(["\n", "\r\n"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_file, min_size=1, max_size=5))
def test_the_nth_resource_of_the_stream_is_the_nth_counted_and_comes_from_its_file(
    files: list[tuple[list[dict[str, object] | None], bool, bool, str]],
) -> None:
    sources = []
    expected = []
    for number, (documents, explicit, final_newline, end) in enumerate(files):
        chunks = [yaml.safe_dump(d, default_flow_style=False) if d is not None else "" for d in documents]
        text = ("---\n" if explicit else "") + "---\n".join(chunks)
        text = text.replace("\n", end)
        if not final_newline:
            text = text.rstrip("\r\n")
        sources.append(source(f"f{number}.yaml", text))
        expected += [(f"f{number}.yaml", d) for d in documents if d is not None]
    joined = join(sources)
    read = [d for d in yaml.safe_load_all(joined.text) if d is not None]
    assert read == [d for _, d in expected] == list(joined.documents)
    assert [file.name for file in joined.files] == [name for name, _ in expected]
