"""kubeyaml reads YAML as kubectl does: every plain scalar where YAML 1.1 (go-yaml v2), YAML 1.2 and PyYAML disagree.

Each row is YAML text -> the JSON value the apiserver receives, with the rule it follows. The rules are go-yaml v2's
resolve.go and decode.go (as vendored in sigs.k8s.io/yaml/goyaml.v2), sigs.k8s.io/yaml's convertToJSONableObject,
and Go's encoding/json float format followed by an int64-preserving decode (kubectl's unstructured round trip).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml as pyyaml

from webhook import kubeyaml

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
    with pytest.raises(kubeyaml.ManifestError, match="contains itself"):
        kubeyaml.loads("a: &x [*x]\n")


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
