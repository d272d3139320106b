from __future__ import annotations

from pathlib import Path

from tests.docs.markdown import CodeBlock, Document, Span, find_documents, slugify

TEXT = """\
# Title

Run `edgewatch bench recovery --json [--offline-s S]
[--real-time]` and see [the API](docs/api.md), ![a plot](img/p.png "title").
In code it is no link: `[x](nowhere.md)`; in a table `a \\| b`.

```sh
edgewatch demo
# not a heading
```

~~~
[inside](fenced.md)
~~~

## hello: `Hello`

## Hello: hello

[ref]: ../deploy/README.md
"""


def test_fenced_blocks_with_their_language_and_first_line() -> None:
    doc = Document("x.md", TEXT)
    assert doc.code_blocks == (
        CodeBlock("sh", 8, ("edgewatch demo", "# not a heading")),
        CodeBlock("", 13, ("[inside](fenced.md)",)),
    )


def test_inline_code_may_span_lines_and_starts_where_it_opens() -> None:
    spans = list(Document("x.md", TEXT).inline_code())
    assert spans == [
        Span(3, "edgewatch bench recovery --json [--offline-s S] [--real-time]"),
        Span(5, "[x](nowhere.md)"),
        Span(5, "a | b"),
        Span(16, "Hello"),
    ]


def test_links_outside_code_only() -> None:
    links = list(Document("x.md", TEXT).links())
    assert links == [Span(4, "docs/api.md"), Span(4, "img/p.png"), Span(20, "../deploy/README.md")]


def test_anchors_follow_github() -> None:
    assert slugify("hello: `Hello`") == "hello-hello"
    assert slugify("Pipeline (issue 2)") == "pipeline-issue-2"
    assert slugify("cmd/{name} and alerts") == "cmdname-and-alerts"
    # The heading inside the fence is none; the second "hello hello" gets a suffix.
    assert Document("x.md", TEXT).anchors == {"title", "hello-hello", "hello-hello-1"}


def test_find_documents_leaves_out_tests_build_and_hidden_folders(tmp_path: Path) -> None:
    for name in ("README.md", "docs/a.md", "tests/b.md", "build/c.md", ".venv/d.md", "x.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("# doc\n", encoding="utf-8")
    assert [d.name for d in find_documents(tmp_path)] == ["README.md", "docs/a.md"]
