"""Checks of the project's Markdown against the program and the tree.

    markdown.py    Document: fenced blocks, paragraphs, inline code, links, heading anchors
    repetition.py  repeated paragraphs and lines (the shape of a file destroyed by a script)
    shell.py       doc text -> simple commands (continuations, operators, $(...), synopses)
    grammar.py     Grammar: the flags and sub-verbs of ``edgewatch``, read from its argparse
    commands.py    which program a command runs (edgewatch, python -m, make) and its problems
    references.py  repo paths and dotted module names in docs, resolved on disk (no imports)

``test_docs.py`` runs them over every Markdown file; the other test files test them.
"""
