"""User text inside Streamlit's Markdown, shown as the text it is.

Streamlit renders the strings given to ``st.markdown``, ``st.title``, ``st.caption``,
``st.error`` and the like as Markdown, with no escaping of its own: a note, a name or a file
name could forge emphasis (a second note "by admin"), draw an image that every reader's
browser fetches from elsewhere, or link anywhere. :func:`literal` escapes what Markdown (and
Streamlit's additions: colours, icons, LaTeX) would act on, so such text reads as typed.
Multi-line text (notes) is shown with ``st.text`` instead, which renders nothing.

A widget's label is Markdown too, but its raw text is also the field's accessible name, where
escapes would be read out; :func:`plain_label` drops the characters Markdown acts on instead.
"""

from __future__ import annotations

import re

__all__ = ["literal", "plain_label"]

# Inline markup: emphasis, code, links and images, HTML and autolinks, strikethrough, tables,
# LaTeX, and Streamlit's :colour[...] directives (which need a bracket).
_INLINE = re.compile(r"([\\`*_\[\]<>~|$])")
# What starts a block at the beginning of a line: headings, quotes, lists, rules (a backslash
# escapes punctuation only, so "1." becomes "1\.").
_BLOCK_START = re.compile(r"^(\s*\d*)([#>+=.)-])")
# What a widget label's Markdown acts on (emphasis, code, links and images, HTML, LaTeX).
_LABEL_MARKUP = re.compile(r"[\\`*\[\]<>~|$]")
# Bare web addresses, which GitHub-flavoured Markdown turns into links.
_AUTOLINK = re.compile(r"(://|(?i:www)\.)")


def literal(text: object) -> str:
    """``text`` on one line, escaped so that Markdown shows it exactly as written.

    Examples
    --------
    >>> literal("**admin**, 01 Jan: ![x](https://example.org/p.png)")
    '\\\\*\\\\*admin\\\\*\\\\*, 01 Jan: !\\\\[x\\\\](https:\\\\/\\\\/example.org/p.png)'
    >>> literal("Ana Lindqvist (demo-ana)")
    'Ana Lindqvist (demo-ana)'
    >>> literal("# 1. heading\\nsecond line")
    '\\\\# 1. heading second line'
    >>> literal("1. not a list")
    '1\\\\. not a list'
    """
    line = " ".join(str(text).splitlines())
    line = _INLINE.sub(r"\\\1", line)
    line = _AUTOLINK.sub(lambda m: m.group(1).replace("/", "\\/").replace(".", "\\."), line)
    return _BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), line)


def plain_label(text: object) -> str:
    """``text`` on one line without the characters a widget label's Markdown would act on.

    >>> plain_label("day35_follow-up.jpg")
    'day35_follow-up.jpg'
    >>> plain_label("![x](http://example.org/p.png) **me**.jpg")
    '!x(http://example.org/p.png) me.jpg'
    """
    return _LABEL_MARKUP.sub("", " ".join(str(text).splitlines()))
