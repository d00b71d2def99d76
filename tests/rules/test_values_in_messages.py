"""How a bad value is shown in a message: quoted as Go's strconv.Quote quotes it, and cut off past 256 characters.

Every expected string here is written out by hand from Go's documented rules, not computed by our code:

- strconv.Quote returns a double-quoted Go string literal. ``"`` and ``\\`` get a backslash. A rune that
  strconv.IsPrint accepts is kept as it is: letters, marks, numbers, punctuation, symbols, and the ASCII space.
- Otherwise the seven named escapes ``\\a \\b \\f \\n \\r \\t \\v``; any other rune below U+0020, and U+007F, as
  ``\\xhh``; any other rune up to U+FFFF as ``\\uhhhh``; beyond that ``\\Uhhhhhhhh`` (hex digits in lower case).

The characters used are assigned in every Unicode version from 6 on, so Go's tables and Python's agree on them.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.support.https import Client
from tests.support.reviews import pool, review
from webhook.rules.fielderrors import format_value, go_quote

QUOTED = [
    # plain text, the fast path
    ("", '""'),
    ("my-pool", '"my-pool"'),
    ("with spaces ~!", '"with spaces ~!"'),
    # the two characters escaped with a backslash, alone (the fast path must not take them) and mixed
    ('say "hi"', '"say \\"hi\\""'),
    ("C:\\pools", '"C:\\\\pools"'),
    ('\\"', '"\\\\\\""'),
    # the seven named escapes
    ("\a", '"\\a"'),
    ("\b", '"\\b"'),
    ("\f", '"\\f"'),
    ("\n", '"\\n"'),
    ("\r", '"\\r"'),
    ("\t", '"\\t"'),
    ("\v", '"\\v"'),
    ("line1\nline2\ttab", '"line1\\nline2\\ttab"'),
    # every other control character below U+0020 as \xhh, and DEL
    ("".join(map(chr, range(0x20))),
     '"\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\a\\b\\t\\n\\v\\f\\r\\x0e\\x0f'
     '\\x10\\x11\\x12\\x13\\x14\\x15\\x16\\x17\\x18\\x19\\x1a\\x1b\\x1c\\x1d\\x1e\\x1f"'),
    ("\x7f", '"\\x7f"'),
    ("a\x00b", '"a\\x00b"'),
    # not printable, up to U+FFFF: \uhhhh (C1 controls included: they are not below U+0020)
    ("\x80", '"\\u0080"'),
    ("\x85", '"\\u0085"'),
    ("\x9f", '"\\u009f"'),
    ("\xa0", '"\\u00a0"'),  # no-break space: a space, but not the ASCII one
    ("\xad", '"\\u00ad"'),  # soft hyphen (format)
    ("\u200b", '"\\u200b"'),  # zero width space (format)
    ("\u200f", '"\\u200f"'),  # right-to-left mark
    ("\u2028", '"\\u2028"'),  # line separator
    ("\u2029", '"\\u2029"'),  # paragraph separator
    ("\u3000", '"\\u3000"'),  # ideographic space
    ("\ue000", '"\\ue000"'),  # private use
    ("\ufeff", '"\\ufeff"'),  # byte order mark
    ("\uffff", '"\\uffff"'),  # noncharacter
    # not printable, beyond U+FFFF: \Uhhhhhhhh
    ("\U0001d173", '"\\U0001d173"'),  # musical symbol begin beam (format)
    ("\U000e0001", '"\\U000e0001"'),  # language tag (format)
    ("\U000f0000", '"\\U000f0000"'),  # supplementary private use
    ("\U0010ffff", '"\\U0010ffff"'),  # the last code point, a noncharacter
    # printable beyond ASCII: kept as they are
    ("é", '"é"'),
    ("pool-ü", '"pool-ü"'),
    ("中文", '"中文"'),
    ("Ωμέγα", '"Ωμέγα"'),
    ("e\u0301", '"e\u0301"'),  # a combining mark is printable
    ("\ufffd", '"\ufffd"'),  # the replacement character is a symbol
    ("😀", '"😀"'),
    ("€½²", '"€½²"'),
    # a mix takes each rule in turn
    ('é"\n\x00\u2028😀\U000e0001', '"é\\"\\n\\x00\\u2028😀\\U000e0001"'),
]


@pytest.mark.parametrize(("text", "quoted"), QUOTED)
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


@pytest.mark.parametrize(("length", "shown"), [
    (255, '"' + "a" * 255 + '"'),
    (256, '"' + "a" * 256 + '"'),
    (257, '"' + "a" * 256 + '"...(1 more characters)'),
    (1000, '"' + "a" * 256 + '"...(744 more characters)'),
])
def test_long_values_are_cut_off_after_256_characters(length: int, shown: str) -> None:
    assert format_value("a" * length) == shown


def test_the_cut_off_counts_characters_and_quotes_what_it_keeps() -> None:
    # 300 two-byte characters: 256 kept, 44 counted; 300 newlines: 256 kept, each escaped.
    assert format_value("é" * 300) == '"' + "é" * 256 + '"...(44 more characters)'
    assert format_value("\n" * 300) == '"' + "\\n" * 256 + '"...(44 more characters)'


@pytest.mark.parametrize(("length", "shown"), [
    (256, '"' + "x" * 256 + '"'),
    (257, '"' + "x" * 256 + '"...(1 more characters)'),
])
def test_a_long_unsupported_value_comes_back_cut_off(client: Client, length: int, shown: str) -> None:
    reply = client.post("/validate", review(pool(poolMode="x" * length)))
    causes = reply.json()["response"]["status"]["details"]["causes"]
    assert causes == [{
        "reason": "FieldValueNotSupported",
        "message": f'Unsupported value: {shown}: supported values: "session", "transaction", "statement"',
        "field": "spec.poolMode",
    }]


def test_a_quoted_value_comes_back_over_http_as_go_quotes_it(client: Client) -> None:
    reply = client.post("/validate", review(pool(poolMode='tab\there "q" \u2028 \x7f é')))
    [cause] = reply.json()["response"]["status"]["details"]["causes"]
    assert cause["message"] == ('Unsupported value: "tab\\there \\"q\\" \\u2028 \\x7f é": '
                                'supported values: "session", "transaction", "statement"')


# fmt's %v of a float64: the shortest digits that read back as the same float, in %e form when the exponent is
# below -4 or from 6 on (exponent of at least two digits), else plain; -0 keeps its sign. Examples from the
# wording research, printed by Go itself, and the edges of that rule.
FLOATS = [
    (1.5, "1.5"), (1.0, "1"), (-1.0, "-1"), (1e3, "1000"), (123456.0, "123456"), (999999.0, "999999"),
    (1e6, "1e+06"), (1234567.0, "1.234567e+06"), (-1234567.0, "-1.234567e+06"), (1e21, "1e+21"),
    (0.0001, "0.0001"), (0.00012, "0.00012"), (0.00001, "1e-05"), (-0.000012, "-1.2e-05"), (0.1, "0.1"),
    (0.0, "0"), (-0.0, "-0"), (123.456, "123.456"), (100.5, "100.5"), (2.0**53, "9.007199254740992e+15"),
    (float(2**63), "9.223372036854776e+18"), (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
    (1e100, "1e+100"), (12345.678, "12345.678"), (1.25e-3, "0.00125"),
    (math.inf, "+Inf"), (-math.inf, "-Inf"), (math.nan, "NaN"),  # never from JSON, but Python callers may pass them
]


@pytest.mark.parametrize(("value", "shown"), FLOATS)
def test_floats_are_shown_as_go_prints_them(value: float, shown: str) -> None:
    assert format_value(value) == shown


@pytest.mark.parametrize(("value", "shown"), [
    (True, "true"), (False, "false"), (0, "0"), (-7, "-7"), (2**63 - 1, "9223372036854775807"),
    (2**63, "9.223372036854776e+18"), (-(2**63) - 1, "-9.223372036854776e+18"),
])
def test_scalars_are_shown_as_go_prints_the_decoded_value(value: Any, shown: str) -> None:
    assert format_value(value) == shown


# Values that are neither strings nor scalars: Go's %#v of the decoded value up to 1.33 (nil inside a composite is
# interface {}(nil), map keys sorted), JSON from 1.34; a null at the top prints as null.
@pytest.mark.parametrize(("value", "go", "as_json"), [
    (None, "null", "null"),
    ([None], "[]interface {}{interface {}(nil)}", "[null]"),
    ({"b": [1, None], "a": "é"}, 'map[string]interface {}{"a":"é", "b":[]interface {}{1, interface {}(nil)}}',
     '{"a":"é","b":[1,null]}'),
    ([1, "x", 2.5], '[]interface {}{1, "x", 2.5}', '[1,"x",2.5]'),
])
def test_composite_values_are_shown_as_go_or_json(value: Any, go: str, as_json: str) -> None:
    assert format_value(value) == go
    assert format_value(value, json_composites=True) == as_json
