"""The expression language of workflow templates (shiplane.workflows.expressions).

Table-driven: what each construct evaluates to, how strings are rendered, which
paths an expression reads, and the sandbox: tenant-written expressions that try to
reach Python, or to make the server do unbounded work, fail with ExpressionError
and nothing else. Work is measured in syntax-tree nodes visited, never wall-clock.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
from pathlib import Path
from typing import Any

import pytest
from shiplane.workflows import expressions as module
from shiplane.workflows.expressions import (
    MAX_DEPTH,
    MAX_NODES,
    MAX_STRING_BYTES,
    MAX_TEXT,
    Expression,
    ExpressionError,
    Reference,
    expressions_in,
    parse,
    parse_condition,
    render,
    truthy,
)

SCOPE: dict[str, Any] = {
    "inputs": {
        "env": "prod",
        "version": "1.4.2",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "off": False,
        "nothing": None,
        "empty": "",
        "list": [1, 2, 3],
        "names": ["api", "web"],
        "m": {"k": "v", "n": {"deep": 42}},
        "key": "k",
        "true": "a key named true",
        "_hidden": "never readable",
        "json": '{"a": [1, 2], "b": {"c": "d"}}',
        "big": 10**29,
        "huge": 10**40,
    },
    "steps": {
        "build": {"outputs": {"digest": "sha256:abc", "passed": True, "tags": ["1.4", "latest"]}},
        "build-image": {"outputs": {"tag": "v1"}},
        "test": {"outputs": {"passed": False}},
    },
    "env": {"REGION": "eu-west-1"},
}


def value_of(text: str, scope: dict[str, Any] | None = None) -> Any:
    return parse(text).evaluate(SCOPE if scope is None else scope)


def check(text: str, expected: Any) -> None:
    result = value_of(text)
    assert result == expected and type(result) is type(expected), f"{text!r} gave {result!r}, expected {expected!r}"


# --- Literals, references, missing values -------------------------------------------------------

LITERALS = [
    ("1", 1),
    ("0", 0),
    ("007", 7),
    ("1.5", 1.5),
    ("0.25", 0.25),
    ("9" * 30, int("9" * 30)),
    ("'single'", "single"),
    ('"double"', "double"),
    ("''", ""),
    (r"'it\'s'", "it's"),
    (r'"say \"hi\""', 'say "hi"'),
    (r"'back\\slash'", "back\\slash"),
    (r"'a\nb\tc'", "a\nb\tc"),
    ("'\"mixed\"'", '"mixed"'),
    ("'${{ not an expression }}'", "${{ not an expression }}"),
    ("true", True),
    ("false", False),
    ("null", None),
    ("  1  ", 1),
]


@pytest.mark.parametrize(("text", "expected"), LITERALS)
def test_literals(text: str, expected: Any) -> None:
    check(text, expected)


REFERENCES = [
    ("inputs.env", "prod"),
    ("inputs.count", 3),
    ("inputs.list[0]", 1),
    ("inputs.list[2]", 3),
    ("inputs.m.n.deep", 42),
    ("inputs['m']['n']['deep']", 42),
    ('inputs["env"]', "prod"),
    ("steps.build.outputs.digest", "sha256:abc"),
    ("steps.build.outputs['digest']", "sha256:abc"),
    ("steps.build.outputs.tags[1]", "latest"),
    ("steps.build-image.outputs.tag", "v1"),
    ("inputs.m[inputs.key]", "v"),
    ("inputs.true", "a key named true"),
    ("inputs.list", [1, 2, 3]),
    ("inputs.m", {"k": "v", "n": {"deep": 42}}),
    ("env.REGION", "eu-west-1"),
    ("(inputs.m).k", "v"),
    ("fromJSON(inputs.json).a[1]", 2),
    ("fromJSON(inputs.json)['b'].c", "d"),
    ("inputs . env", "prod"),
]


@pytest.mark.parametrize(("text", "expected"), REFERENCES)
def test_references_read_the_scope(text: str, expected: Any) -> None:
    check(text, expected)


MISSING = [
    "inputs.missing",
    "inputs.missing.deeper[0].still",
    "inputs.list[3]",
    "inputs.list[-1]",
    "inputs.list['0']",
    "inputs.m[0]",
    "inputs.env.length",
    "inputs.env[0]",
    "inputs.count.x",
    "inputs.nothing.x",
    "run",
    "run.id",
    "steps.nope.outputs.x",
    "inputs[inputs.missing]",
    "inputs[format('{0}hidden', '_')]",  # computed keys starting with '_' read as missing too
    "fromJSON('[1]')[5]",
]


@pytest.mark.parametrize("text", MISSING)
def test_missing_keys_and_indices_are_null(text: str) -> None:
    assert value_of(text) is None


def test_the_whole_root_and_an_absent_root() -> None:
    assert value_of("inputs") is SCOPE["inputs"]
    assert value_of("inputs.x", {}) is None
    assert parse("inputs.x").evaluate({"inputs": None}) is None


# --- Operators ----------------------------------------------------------------------------------

OPERATORS = [
    # precedence and associativity
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 - 4 - 3", 3),
    ("2 * 3 % 4", 2),
    ("12 / 2 / 3", 2),
    ("-2 * 3", -6),
    ("1 - -1", 2),
    ("--1", 1),
    ("1 + 2 == 3", True),
    ("1 < 2 == true", True),
    ("!1 == false", True),
    ("!(1 == 2)", True),
    ("true || false && false", True),
    ("(true || false) && false", False),
    ("!false && false", False),
    ("1 == 1 && 2 == 2 || 1 == 2", True),
    ("inputs.env == 'prod' && steps.build.outputs.passed", True),
    ("inputs.env == 'prod' && steps.test.outputs.passed", False),
    # arithmetic
    ("7 / 2", 3.5),
    ("6 / 2", 3),
    ("-6 / 2", -3),
    ("7 % 3", 1),
    ("1.5 + 1", 2.5),
    ("inputs.count * inputs.ratio", 1.5),
    ("inputs.big + 1", 10**29 + 1),
    ("'a' + 'b' + 'c'", "abc"),
    ("inputs.env + '-' + inputs.version", "prod-1.4.2"),
    # equality: same type only; arrays and objects by value
    ("1 == 1.0", True),
    ("1 == '1'", False),
    ("1 != '1'", True),
    ("'a' == 'a'", True),
    ("'a' == 'A'", False),
    ("null == null", True),
    ("inputs.missing == null", True),
    ("inputs.missing == ''", False),
    ("true == 1", False),
    ("false == 0", False),
    ("inputs.list == fromJSON('[1, 2, 3]')", True),
    ("inputs.list == fromJSON('[1, 2]')", False),
    ("fromJSON('[1]') == fromJSON('[true]')", False),
    ("fromJSON('[1]') == fromJSON('[1.0]')", False),  # JSON texts [1] and [1.0] differ
    ("fromJSON('1') == fromJSON('1.0')", True),
    ('fromJSON(\'{"a": 1, "b": 2}\') == fromJSON(\'{"b": 2, "a": 1}\')', True),
    ("inputs.m == inputs.m", True),
    ("fromJSON('[]') == fromJSON('{}')", False),
    # ordering: numbers with numbers, strings with strings, otherwise false
    ("1 < 2", True),
    ("2 <= 2", True),
    ("3 > 2.5", True),
    ("2 >= 3", False),
    ("'b' > 'a'", True),
    ("'B' < 'a'", True),
    ("1 < 'a'", False),
    ("1 >= 'a'", False),
    ("null < 1", False),
    ("null >= null", False),
    ("true > false", False),
    ("fromJSON('[1]') < fromJSON('[2]')", False),
    # logic returns booleans by truthiness
    ("'x' && 1", True),
    ("0 || ''", False),
    ("inputs.missing || inputs.empty || inputs.list", True),
    ("!inputs.missing", True),
    ("!inputs.list", False),
    ("!fromJSON('[]')", True),
    ("!fromJSON('{}')", True),
    ("!0.0", True),
]


@pytest.mark.parametrize(("text", "expected"), OPERATORS)
def test_operators(text: str, expected: Any) -> None:
    check(text, expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (False, False),
        (0, False),
        (0.0, False),
        ("", False),
        ([], False),
        ({}, False),
        (float("nan"), False),
        (True, True),
        (1, True),
        (-0.5, True),
        ("false", True),
        ("0", True),
        ([0], True),
        ({"a": None}, True),
    ],
)
def test_truthy(value: Any, expected: bool) -> None:
    assert truthy(value) is expected


SHORT_CIRCUITS = [
    ("false && 1 / 0", False),
    ("inputs.missing && fromJSON('not json')", False),
    ("true || 1 / 0", True),
    ("inputs.env || 'a' - 1", True),
    ("false || false || true || 1 / 0", True),
]


@pytest.mark.parametrize(("text", "expected"), SHORT_CIRCUITS)
def test_and_or_short_circuit(text: str, expected: bool) -> None:
    check(text, expected)


def test_short_circuit_skips_the_rest_of_the_tree() -> None:
    expression = parse("false && (" + " + ".join(["inputs.count"] * 10) + ") > 1")
    value, steps = expression._run(SCOPE)
    assert value is False
    assert steps == 2  # the && node and the literal `false`


def test_the_right_operand_still_runs_when_needed() -> None:
    with pytest.raises(ExpressionError, match="division by zero"):
        value_of("true && 1 / 0")


# --- Functions ----------------------------------------------------------------------------------

FUNCTION_CASES = [
    ("contains('release-1.4', '1.4')", True),
    ("contains('release-1.4', 'Release')", False),
    ("contains(inputs.names, 'web')", True),
    ("contains(inputs.names, 'db')", False),
    ("contains(inputs.list, 2)", True),
    ("contains(inputs.list, '2')", False),
    ("contains('v12', 1)", True),
    ("contains(fromJSON('[[1], {\"a\": 1}]'), fromJSON('{\"a\": 1}'))", True),
    ("contains(inputs.missing, 'x')", False),
    ("startsWith(inputs.version, '1.')", True),
    ("startsWith(inputs.version, '2.')", False),
    ("startsWith(inputs.missing, '')", True),
    ("endsWith(steps.build.outputs.digest, 'abc')", True),
    ("endsWith('abc', 'b')", False),
    ("length('héllo')", 5),
    ("length(inputs.list)", 3),
    ("length(inputs.m)", 2),
    ("length(inputs.missing)", 0),
    ("length('')", 0),
    ("toJSON(inputs.m)", '{"k":"v","n":{"deep":42}}'),
    ("toJSON(inputs.list)", "[1,2,3]"),
    ("toJSON('a\"b')", '"a\\"b"'),
    ("toJSON(null)", "null"),
    ("toJSON(true)", "true"),
    ("toJSON(1.5)", "1.5"),
    ("toJSON('é')", '"é"'),
    ("fromJSON('[1, \"a\", null, true, 1.5]')", [1, "a", None, True, 1.5]),
    ('fromJSON(\'{"a": {"b": []}}\')', {"a": {"b": []}}),
    ("fromJSON('\"text\"')", "text"),
    ("fromJSON('12')", 12),
    ("fromJSON(toJSON(inputs.m))", {"k": "v", "n": {"deep": 42}}),
    ("format('{0}-{1}', inputs.env, inputs.version)", "prod-1.4.2"),
    ("format('{1}{0}{1}', 'a', 'b')", "bab"),
    ("format('{{literal}} {0}', 1)", "{literal} 1"),
    (
        "format('{0}|{1}|{2}|{3}|{4}', null, true, 1.5, inputs.list, inputs.m)",
        '|true|1.5|[1,2,3]|{"k":"v","n":{"deep":42}}',
    ),
    ("format('no placeholders')", "no placeholders"),
    ("join(inputs.names, ', ')", "api, web"),
    ("join(inputs.names)", "api,web"),
    ("join(inputs.list, '')", "123"),
    ("join(fromJSON('[null, true, \"x\", [1]]'), '/')", "/true/x/[1]"),
    ("join('single', '-')", "single"),
    ("join(inputs.missing)", ""),
    ("join(fromJSON('[]'), '-')", ""),
    ("lower('MiXeD')", "mixed"),
    ("upper(inputs.env)", "PROD"),
    ("lower(inputs.missing)", ""),
    ("upper('straße')", "STRASSE"),
]


@pytest.mark.parametrize(("text", "expected"), FUNCTION_CASES)
def test_functions(text: str, expected: Any) -> None:
    check(text, expected)


FUNCTION_ERRORS = [
    ("contains(inputs.m, 'k')", "contains() searches a string or an array"),
    ("contains('abc', inputs.list)", "contains() looks for"),
    ("startsWith(1, '1')", "startsWith() needs a string"),
    ("endsWith('a', 1)", "endsWith() needs a string"),
    ("length(1)", "length() needs"),
    ("length(true)", "length() needs"),
    ("fromJSON(1)", "fromJSON() needs a string"),
    ("fromJSON('{')", "fromJSON(): not valid JSON"),
    ("fromJSON('NaN')", "fromJSON(): NaN is not JSON"),
    ("fromJSON('1e999')", "out of range"),
    ("fromJSON('" + "1" * 31 + "')", "more than 30 digits"),
    ("format(1)", "format() needs a string"),
    ("format('{0} {1}', 'a')", "format(): {1} but only 1 values given"),
    ("format('{x}', 1)", "unmatched"),
    ("format('a } b')", "unmatched"),
    ("format('{0', 1)", "unmatched"),
    ("join(inputs.m)", "join() needs an array"),
    ("join(inputs.list, 1)", "join() needs a string"),
    ("lower(1)", "lower() needs a string"),
    ("upper(inputs.list)", "upper() needs a string"),
]


@pytest.mark.parametrize(("text", "message"), FUNCTION_ERRORS)
def test_function_type_errors(text: str, message: str) -> None:
    expression = parse(text)
    with pytest.raises(ExpressionError, match=re.escape(message)):
        expression.evaluate(SCOPE)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("length()", r"length\(\) takes 1 argument, got 0"),
        ("length(1, 2)", r"length\(\) takes 1 argument, got 2"),
        ("contains('a')", r"contains\(\) takes 2 arguments, got 1"),
        ("join(inputs.list, ',', 1)", r"join\(\) takes 1 to 2 arguments, got 3"),
        ("format()", r"format\(\) takes at least 1 argument, got 0"),
        ("tojson(1)", "unknown function 'tojson'; did you mean 'toJSON'"),
        ("replace('a', 'b', 'c')", "unknown function 'replace'"),
        ("length(1,)", "unexpected"),
        ("length(1 2)", "expected '\\)'"),
    ],
)
def test_function_calls_are_checked_when_parsed(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        parse(text)


# --- Evaluation errors --------------------------------------------------------------------------

EVALUATION_ERRORS = [
    ("1 / 0", "division by zero"),
    ("1 % 0", "modulo by zero"),
    ("1.5 / 0.0", "division by zero"),
    ("'a' - 'b'", "'-' needs numbers, got string and string"),
    ("'a' * 3", "'\\*' needs numbers, got string and number"),
    ("'a' + 1", "'\\+' needs two numbers or two strings, got string and number"),
    ("null + 1", "got null and number"),
    ("true + 1", "got boolean and number"),
    ("inputs.list + inputs.list", "got array and array"),
    ("-'a'", "'-' needs a number, got string"),
    ("-inputs.missing", "'-' needs a number, got null"),
    ("inputs.huge + 0", "more than 30 digits"),
    ("-inputs.huge", "more than 30 digits"),
]


@pytest.mark.parametrize(("text", "message"), EVALUATION_ERRORS)
def test_evaluation_errors(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        value_of(text)


def test_values_that_are_not_json_are_refused_not_used() -> None:
    scope = {"inputs": {"obj": object(), "fn": print, "fine": 1}}
    for text in ("inputs.obj", "inputs.fn", "toJSON(inputs)", "inputs.obj == 1", "length(inputs.obj)"):
        with pytest.raises(ExpressionError, match="not JSON"):
            value_of(text, scope)
    assert value_of("inputs.fine", scope) == 1
    assert value_of("inputs.obj.x", scope) is None  # no attribute of it is ever read
    with pytest.raises(ExpressionError, match="mapping"):
        parse("1").evaluate(["not", "a", "mapping"])  # type: ignore[arg-type]


def test_error_messages_are_one_line_with_a_position() -> None:
    with pytest.raises(ExpressionError) as caught:
        parse("inputs.env == \n 'prod' && oops(1)")
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.message == "unknown function 'oops'"
    assert error.position == 26
    assert str(error) == "unknown function 'oops' (at position 26)"
    assert "\n" not in str(error)
    with pytest.raises(ExpressionError) as caught:
        value_of("1 + 2 * 'x'")
    assert caught.value.position == 6  # the operator that failed
    with pytest.raises(ExpressionError) as caught:
        parse("'multi\nline")
    assert "\n" not in str(caught.value) and caught.value.position == 0


# --- Roots and references() ---------------------------------------------------------------------


def test_roots_are_chosen_by_the_caller() -> None:
    assert parse("run.id", roots=("run",)).evaluate({"run": {"id": 7}}) == 7
    with pytest.raises(ExpressionError, match="unknown name 'inputs': a reference starts with one of run, item"):
        parse("inputs.x", roots=("run", "item"))
    with pytest.raises(ValueError):
        parse("1", roots=("_private",))


@pytest.mark.parametrize(
    ("text", "paths"),
    [
        ("1 + 2", []),
        ("inputs.version", [("inputs", "version")]),
        ("steps.build.outputs['digest']", [("steps", "build", "outputs", "digest")]),
        ("inputs.list[0]", [("inputs", "list", 0)]),
        ("inputs", [("inputs",)]),
        ("steps.build-image.outputs.tag", [("steps", "build-image", "outputs", "tag")]),
        (
            "inputs.env == 'prod' && steps.test.outputs.passed",
            [("inputs", "env"), ("steps", "test", "outputs", "passed")],
        ),
        ("inputs.m[inputs.key].x", [("inputs", "m"), ("inputs", "key")]),
        ("steps[inputs.step].outputs", [("steps",), ("inputs", "step")]),
        ("format('{0}', env.A, env.B)", [("env", "A"), ("env", "B")]),
        ("fromJSON(inputs.json).a.b", [("inputs", "json")]),
        ("inputs.a || inputs.a", [("inputs", "a"), ("inputs", "a")]),
        ("-inputs.n * (steps.s.outputs.k + 1)", [("inputs", "n"), ("steps", "s", "outputs", "k")]),
    ],
)
def test_references_lists_static_paths_in_order(text: str, paths: list[tuple[str | int, ...]]) -> None:
    assert parse(text).references() == [Reference(path) for path in paths]


def test_references_is_a_fresh_list_and_references_print_as_paths() -> None:
    expression = parse("steps.build.outputs.tags[0]")
    expression.references().clear()
    assert [str(r) for r in expression.references()] == ["steps.build.outputs.tags[0]"]


def test_parse_results_are_cached_and_immutable() -> None:
    assert parse("inputs.env == 'prod'") is parse("inputs.env == 'prod'")
    assert parse("inputs.x") is not parse("inputs.x", roots=("inputs",))
    with pytest.raises(AttributeError):
        parse("1").extra = 1  # type: ignore[attr-defined]


# --- Conditions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("inputs.env == 'prod'", True),
        ("${{ inputs.env == 'prod' }}", True),
        ("  ${{inputs.env == 'dev'}}  ", False),
        ("${{ format('{{0}}') == '{0}' }}", True),
        ("steps.test.outputs.passed", False),
    ],
)
def test_conditions_with_or_without_the_wrapper(text: str, expected: bool) -> None:
    assert truthy(parse_condition(text).evaluate(SCOPE)) is expected


def test_a_wrapped_condition_keeps_its_text_and_positions() -> None:
    assert parse_condition("  ${{ inputs.env }} ").text == "inputs.env"
    with pytest.raises(ExpressionError) as caught:
        parse_condition(" ${{ inputs.env == nope }}")
    assert caught.value.position == 19


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${{ inputs.a }} && ${{ inputs.b }}", "a condition is one expression"),
        ("${{ inputs.a }} extra", "a condition is one expression"),
        ("${{ inputs.a", "not closed"),
        ("${{ }}", "empty expression"),
        ("", "empty expression"),
        ("   ", "empty expression"),
    ],
)
def test_bad_conditions(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        parse_condition(text)


# --- Interpolation: render and expressions_in ---------------------------------------------------

RENDER_CASES = [
    # exactly one ${{ }}: the JSON value itself
    ("${{ inputs.list }}", [1, 2, 3]),
    ("  ${{ inputs.count }}\n", 3),
    ("${{inputs.flag}}", True),
    ("${{ inputs.missing }}", None),
    ("${{ inputs.m }}", {"k": "v", "n": {"deep": 42}}),
    ("${{ inputs.env }}", "prod"),
    # anything else: text
    ("v${{ inputs.version }}", "v1.4.2"),
    ("${{ inputs.env }}-${{ inputs.version }}", "prod-1.4.2"),
    ("[${{ inputs.missing }}]", "[]"),
    ("n=${{ inputs.count }} r=${{ inputs.ratio }} f=${{ inputs.off }}", "n=3 r=0.5 f=false"),
    ("list=${{ inputs.list }}", "list=[1,2,3]"),
    ("m=${{ inputs.m }}", 'm={"k":"v","n":{"deep":42}}'),
    ("${{ '}}' }}", "}}"),
    ("${{ format('{{{0}}}', 1) }}!", "{1}!"),
    ("$${{ 1 }}$", "$1$"),
    ("no expressions ${ { here", "no expressions ${ { here"),
    ("}} alone", "}} alone"),
]


@pytest.mark.parametrize(("text", "expected"), RENDER_CASES)
def test_render_strings(text: str, expected: Any) -> None:
    assert render(text, SCOPE) == expected


def test_render_walks_dicts_and_lists_and_copies() -> None:
    config = {
        "image": "registry/app:${{ inputs.version }}",
        "replicas": "${{ inputs.count }}",
        "headers": {"Authorization": "Bearer ${{ steps.build.outputs.digest }}", "${{ inputs.env }}": "key kept"},
        "args": ["--env", "${{ inputs.env }}", 3, None, True, ("${{ inputs.count }}",)],
    }
    original = json.loads(json.dumps(config))
    rendered = render(config, SCOPE)
    assert rendered == {
        "image": "registry/app:1.4.2",
        "replicas": 3,
        "headers": {"Authorization": "Bearer sha256:abc", "${{ inputs.env }}": "key kept"},
        "args": ["--env", "prod", 3, None, True, [3]],
    }
    assert list(rendered) == list(config) and list(rendered["headers"]) == list(config["headers"])
    assert json.loads(json.dumps(config)) == original  # the input is not changed
    assert rendered["args"] is not config["args"]


def test_render_and_expressions_in_survive_deep_values() -> None:
    deep: Any = "${{ inputs.count }}"
    for _ in range(5000):
        deep = [deep]
    rendered = render(deep, SCOPE)
    for _ in range(5000):
        rendered = rendered[0]
    assert rendered == 3
    assert len(expressions_in(deep)) == 1


def test_render_errors_name_the_path_and_position() -> None:
    with pytest.raises(ExpressionError) as caught:
        render({"headers": {"Authorization": "Bearer ${{ 1 / 0 }}"}}, SCOPE)
    assert caught.value.path == "headers.Authorization"
    assert caught.value.position == 13  # the '/' in the config string
    assert str(caught.value) == "headers.Authorization: division by zero (at position 13)"


def test_expressions_in_paths() -> None:
    config = {
        "image": "app:${{ inputs.version }}",
        "plain": "nothing here",
        "headers": {"Authorization": "Bearer ${{ steps.build.outputs.digest }}"},
        "args": ["a", "b", "${{ inputs.a }} and ${{ inputs.b }}"],
        "nested": [{"x": ["${{ env.REGION }}"]}],
        "number": 5,
        "${{ keys.are.not.read }}": "x",
    }
    found = expressions_in(config)
    assert [(path, expression.text) for path, expression in found] == [
        ("image", "inputs.version"),
        ("headers.Authorization", "steps.build.outputs.digest"),
        ("args.2", "inputs.a"),
        ("args.2", "inputs.b"),
        ("nested.0.x.0", "env.REGION"),
    ]
    assert all(isinstance(expression, Expression) for _, expression in found)
    assert expressions_in("${{ inputs.x }}")[0][0] == ""
    assert expressions_in({"a": 1, "b": [None, True]}) == []


@pytest.mark.parametrize(
    ("value", "message", "position"),
    [
        ({"a": {"b": "x ${{ inputs.x"}}, "a.b: '\\${{' is not closed by '}}' \\(at position 2\\)", 2),
        ({"args": ["ok", "${{ nope.x }}"]}, "args.1: unknown name 'nope'", 4),
        ({"a": "${{ 'unterminated }}"}, "a: '\\${{' is not closed", 0),
        ({"a": "${{ inputs.a }} ${{ open('/etc/passwd') }}"}, "a: unknown function 'open'", 20),
        ({"a": "${{ }}"}, "a: empty expression", 4),
        ("${{ 1 + }}", "\\(the value itself\\): unexpected the end of the expression|expected", None),
    ],
)
def test_expressions_in_reports_the_first_bad_expression(value: Any, message: str, position: int | None) -> None:
    with pytest.raises(ExpressionError, match=message) as caught:
        expressions_in(value)
    if position is not None:
        assert caught.value.position == position


def test_roots_apply_to_interpolation() -> None:
    assert render("${{ item.name }}", {"item": {"name": "x"}}, roots=("item",)) == "x"
    with pytest.raises(ExpressionError, match="unknown name 'inputs'"):
        expressions_in({"a": "${{ inputs.x }}"}, roots=("item",))


# --- The sandbox --------------------------------------------------------------------------------

ESCAPES = [
    "__import__('os')",
    "__import__('os').system('id')",
    "inputs.__class__",
    "inputs.__class__.__mro__[1].__subclasses__()",
    "inputs._x",
    "inputs._hidden",
    "inputs['_hidden']",
    "inputs['__class__']",
    "().__class__.__bases__",
    "''.__class__",
    "(inputs).__dict__",
    "open('/etc/passwd')",
    "eval('1')",
    "exec('1')",
    "compile('1', 'f', 'eval')",
    "getattr(inputs, 'x')",
    "globals()",
    "lambda: 1",
    "lambda x: x",
    "inputs.x if 1 else 2",
    "[x for x in inputs]",
    "{'a': 1}",
    "(1, 2)",
    "inputs.x = 1",
    "inputs.x := 1",
    "9**9**9",
    "2 ** 10",
    "1 if 1 else 0",
    "not inputs.x",
    "inputs.x and 1",
    "inputs.x | 1",
    "inputs.x & 1",
    "1; 2",
    "`id`",
    "inputs.env.upper()",
    "f'{inputs}'",
    "'%s' % inputs",
    "'{0.__class__}'.format(inputs)",
    "os.system('id')",
    "sys.modules",
    "builtins",
    "inputs.x.y(1)",
    "format",
    "toJSON",
    "1e5",
    "0x10",
    "1_000",
    "1.",
    ".5",
    "1.2.3",
    "'unterminated",
    '"unterminated',
    "'bad escape \\x41'",
    "inputs[1.5]",
    "inputs[true]",
    "inputs[null]",
    "inputs.",
    "inputs[0",
    "length(",
    "((1)",
    "1)",
    "",
    "ïnputs",
    "inputs.x\x00",
]


@pytest.fixture
def no_dynamic_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python's code-running builtins fail the test if the expression module calls them."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the expression module ran Python code or opened a file")

    # Module globals shadow builtins for the module's own lookups only; pytest is untouched.
    for name in ("eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "globals", "vars", "__import__"):
        assert hasattr(builtins, name)
        monkeypatch.setattr(module, name, refuse, raising=False)


@pytest.mark.parametrize("text", ESCAPES)
def test_sandbox_escapes_are_expression_errors(text: str, no_dynamic_code: None) -> None:
    try:
        expression = parse(text)
    except ExpressionError:
        return
    with pytest.raises(ExpressionError):  # parsed (it is a valid expression): evaluating must still refuse
        expression.evaluate(SCOPE)


@pytest.mark.parametrize("text", ESCAPES)
def test_sandbox_escapes_fail_in_templates_too(text: str, no_dynamic_code: None) -> None:
    template = {"cmd": "run ${{ " + text + " }}"}
    with pytest.raises(ExpressionError) as caught:
        render(template, SCOPE)
    assert caught.value.path == "cmd"


def test_names_starting_with_an_underscore_are_refused_by_name() -> None:
    for text, name in [
        ("inputs.__class__", "'__class__'"),
        ("inputs._x", "'_x'"),
        ("__import__('os')", "'__import__'"),
    ]:
        with pytest.raises(ExpressionError, match=f"names starting with '_' are not allowed: {name}"):
            parse(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9**9**9", "'\\*\\*' is not an operator \\(there is no exponent\\)"),
        ("os.system('id')", "unknown name 'os'"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("eval('1')", "unknown function 'eval'"),
        ("lambda: 1", "unexpected character ':'"),
        ("lambda", "unknown name 'lambda'"),
        ("inputs.x if 1 else 2", "unexpected 'if'"),
        ("[x for x in inputs]", "unexpected '\\['"),
        ("().__class__", "names starting with '_' are not allowed"),
        ("()", "unexpected '\\)'"),
        ("'abc", "unterminated string"),
        ("inputs.a = 1", "compare with '=='"),
        ("1 & 2", "use '&&'"),
        ("1 | 2", "use '\\|\\|'"),
        ("1e5", "invalid number"),
        ("@", "unexpected character '@'"),
        ("inputs[1.5]", "an index must be a string or an integer"),
    ],
)
def test_sandbox_refusals_say_why(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        parse(text)


def test_the_module_never_calls_dynamic_code() -> None:
    """No eval/exec/compile of code, no attribute access by name, no str.format on tenant text."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    forbidden_calls = {"eval", "exec", "compile", "getattr", "setattr", "delattr", "__import__", "globals", "vars"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in forbidden_calls, f"line {node.lineno}: {node.func.id}()"
        if isinstance(node, ast.Attribute):
            assert node.attr not in ("format", "format_map", "literal_eval"), f"line {node.lineno}: .{node.attr}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = {alias.name for alias in node.names} | {getattr(node, "module", None) or ""}
            assert not names & {"ast", "importlib", "os", "subprocess", "pickle", "operator"}, names


# --- Bounds -------------------------------------------------------------------------------------


def test_text_length_bound() -> None:
    at_limit = "1" + " " * (MAX_TEXT - 2) + "2"
    with pytest.raises(ExpressionError, match="unexpected '2'"):  # parsed: the limit is not the problem
        parse(at_limit)
    assert parse("'" + "a" * (MAX_TEXT - 2) + "'").evaluate({}) == "a" * (MAX_TEXT - 2)
    with pytest.raises(ExpressionError, match=f"expression longer than {MAX_TEXT} characters \\(1001\\)"):
        parse("'" + "a" * (MAX_TEXT - 1) + "'")
    with pytest.raises(ExpressionError, match="longer than 1000"):
        expressions_in({"a": "${{ " + "1 + " * 300 + "1 }}"})


@pytest.mark.parametrize("depth", [33, 100, 500, 5000])
def test_deep_parentheses_are_a_clear_error(depth: int) -> None:
    text = "(" * depth + "1" + ")" * depth
    if len(text) > MAX_TEXT:
        with pytest.raises(ExpressionError, match="longer than"):
            parse(text)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        module._parse_cached("(" * depth + "1" + ")" * depth, ("inputs",))  # past the length check
    with pytest.raises(ExpressionError, match="nested too deeply"):
        module._parse_cached("(" * depth, ("inputs",))
    with pytest.raises(ExpressionError, match="nested too deeply"):
        module._parse_cached("!" * depth + "1", ("inputs",))
    with pytest.raises(ExpressionError, match="nested too deeply"):
        module._parse_cached("length(" * depth + "1" + ")" * depth, ("inputs",))
    with pytest.raises(ExpressionError, match="nested too deeply"):
        module._parse_cached("inputs[" * depth + "1" + "]" * depth, ("inputs",))


def test_nesting_within_the_bound_parses() -> None:
    assert value_of("(" * (MAX_DEPTH - 1) + "1" + ")" * (MAX_DEPTH - 1)) == 1
    assert value_of("!" * (MAX_DEPTH - 2) + "true") is True


def test_ast_depth_bound_counts_operator_chains() -> None:
    assert value_of(" + ".join(["1"] * MAX_DEPTH)) == MAX_DEPTH  # 31 '+' nodes over leaves: depth 32
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse(" + ".join(["1"] * (MAX_DEPTH + 1)))
    chain = " && ".join(["true"] * 100)  # && / || chains are one node: not deep
    assert value_of(chain) is True


def test_node_count_bound() -> None:
    fits = " && ".join(["inputs.flag"] * 66)  # 66 paths of 2 nodes + the && node = 133
    assert parse(fits).node_count == 133
    too_many = " && ".join(["inputs.list[0]"] * 51)  # 51 * 4 = 204 nodes
    with pytest.raises(ExpressionError, match=f"expression too large \\(more than {MAX_NODES} nodes\\)"):
        parse(too_many)
    with pytest.raises(ExpressionError, match="too large"):
        parse("inputs" + ".a" * 250)


def maximal_expression() -> str:
    """As many nodes as the bound allows: && over comparisons of references (4 nodes each)."""
    terms = (MAX_NODES - 1) // 4  # one node for the &&
    text = " && ".join(["inputs.count==3"] * terms)
    assert len(text) <= MAX_TEXT
    return text


def test_evaluating_a_maximal_expression_visits_each_node_at_most_once() -> None:
    expression = parse(maximal_expression())
    assert expression.node_count == MAX_NODES - (MAX_NODES - 1) % 4
    value, steps = expression._run(SCOPE)
    assert value is True
    assert steps == expression.node_count <= MAX_NODES


def test_work_does_not_grow_with_the_data() -> None:
    expression = parse("length(inputs.list) > 0 && inputs.list[0] == 1 && contains(inputs.list, 1)")
    small = expression._run({"inputs": {"list": [1]}})
    large = expression._run({"inputs": {"list": [1] + list(range(100_000))}})
    assert small == large == (True, large[1])
    assert large[1] <= expression.node_count


@pytest.mark.parametrize(
    "text",
    [
        " * ".join(["1000000"] * 6),  # 10**36
        "inputs.big * 10",
        "inputs.big * inputs.big",
        "-inputs.big * 10",
        "1" + "0" * 29 + " + " + "9" * 30,
        "9" * 30 + " - -1",
    ],
)
def test_integer_results_over_30_digits_are_errors(text: str) -> None:
    with pytest.raises(ExpressionError, match="more than 30 digits"):
        value_of(text)


def test_thirty_digit_integers_are_fine() -> None:
    assert value_of("9" * 29 + " * 10 + 9") == int("9" * 30)
    assert value_of(" * ".join(["100000"] * 5) + " * 10000") == 10**29
    with pytest.raises(ExpressionError, match="at most 30 digits"):
        parse("1" * 31)


def test_non_finite_floats_are_errors() -> None:
    big = "9" * 29 + ".9"
    with pytest.raises(ExpressionError, match="not finite"):
        value_of(" * ".join([big] * 12))
    with pytest.raises(ExpressionError, match="not finite|not JSON"):
        value_of("inputs.x * 1", {"inputs": {"x": float("inf")}})
    with pytest.raises(ExpressionError, match="not finite"):
        value_of("toJSON(inputs.x)", {"inputs": {"x": float("nan")}})


def test_string_blowups_stop_at_64_kib() -> None:
    four = "format('{0}{0}{0}{0}', " * 9 + "'abcd'" + ")" * 9  # 4 * 4**9 = 1 MiB if unbounded
    with pytest.raises(ExpressionError, match="string longer than 64 KiB"):
        value_of(four)
    doubled = "'x'"
    for _ in range(20):
        doubled = f"format('{{0}}{{0}}', {doubled})"
    with pytest.raises(ExpressionError, match="longer than 64 KiB"):
        value_of(doubled)
    joined = "join(fromJSON(toJSON(inputs.names)), " + "format('{0}{0}{0}{0}', " * 8 + "'ab'" + ")" * 8 + ")"
    with pytest.raises(ExpressionError, match="longer than 64 KiB"):
        value_of(joined)
    grow = "inputs.s + inputs.s"
    with pytest.raises(ExpressionError, match="longer than 64 KiB"):
        value_of(grow, {"inputs": {"s": "a" * (MAX_STRING_BYTES // 2 + 1)}})
    assert len(value_of(grow, {"inputs": {"s": "a" * (MAX_STRING_BYTES // 2)}})) == MAX_STRING_BYTES
    with pytest.raises(ExpressionError, match="longer than 64 KiB"):  # the bound is in UTF-8 bytes
        value_of(grow, {"inputs": {"s": "é" * (MAX_STRING_BYTES // 4 + 1)}})
    with pytest.raises(ExpressionError, match="longer than 64 KiB"):
        value_of("upper(inputs.s)", {"inputs": {"s": "ß" * (MAX_STRING_BYTES // 2 + 1)}})


def test_render_output_is_bounded_per_string() -> None:
    scope = {"inputs": {"s": "a" * 40_000}}
    assert len(render("${{ inputs.s }}-", scope)) == 40_001
    with pytest.raises(ExpressionError, match="^a: rendered string longer than 64 KiB"):
        render({"a": "${{ inputs.s }}${{ inputs.s }}"}, scope)
    with pytest.raises(ExpressionError, match="longer than 64 KiB"):
        render("${{ inputs.s }}", {"inputs": {"s": "a" * (MAX_STRING_BYTES + 1)}})


def test_to_json_is_bounded_in_size_and_depth() -> None:
    deep: Any = 1
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert value_of("toJSON(inputs.d)", {"inputs": {"d": deep}}) == "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH
    for _ in range(10_000):  # far deeper than the interpreter's recursion limit
        deep = [deep]
    with pytest.raises(ExpressionError, match="nested more than 32 levels"):
        value_of("toJSON(inputs.d)", {"inputs": {"d": deep}})
    with pytest.raises(ExpressionError, match="longer than 64 KiB as JSON"):
        value_of("toJSON(inputs.d)", {"inputs": {"d": list(range(1_000_000))}})
    with pytest.raises(ExpressionError, match="longer than 64 KiB as JSON"):
        value_of("toJSON(inputs.d)", {"inputs": {"d": {str(i): i for i in range(20_000)}}})
    with pytest.raises(ExpressionError, match="longer than 64 KiB as JSON"):
        value_of("format('{0}', inputs.d)", {"inputs": {"d": ["x" * 70_000]}})
    with pytest.raises(ExpressionError, match="no JSON form"):
        value_of("toJSON(inputs.d)", {"inputs": {"d": {(1, 2): 3}}})
    with pytest.raises(ExpressionError, match="no JSON form"):
        value_of("toJSON(inputs.d)", {"inputs": {"d": [float("inf")]}})
    circular: list[Any] = []
    circular.append(circular)
    with pytest.raises(ExpressionError):
        value_of("toJSON(inputs.d)", {"inputs": {"d": circular}})


def test_from_json_is_bounded_in_size_and_depth() -> None:
    nested = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert value_of("length(fromJSON(inputs.j))", {"inputs": {"j": nested}}) == 1
    too_deep = [
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
        "[" * 20_000 + "]" * 20_000,
        '{"a":' * 5_000 + "1" + "}" * 5_000,
        '[{"a": "]]]", "b": [' * 20 + "]}]" * 20,
    ]
    for text in too_deep:
        with pytest.raises(ExpressionError, match="nested more than 32 levels"):
            value_of("fromJSON(inputs.j)", {"inputs": {"j": text}})
    for text in ("[" * 60_000, '{"a":' * 10_000, "]" * 100, "[[]]]"):  # never reaches the recursive parser
        with pytest.raises(ExpressionError, match="not valid JSON"):
            value_of("fromJSON(inputs.j)", {"inputs": {"j": text}})
    assert value_of("fromJSON(inputs.j)", {"inputs": {"j": '"' + "[" * 40 + '"'}}) == "[" * 40  # in a string
    with pytest.raises(ExpressionError, match="fromJSON\\(\\) input longer than 64 KiB"):
        value_of("fromJSON(inputs.j)", {"inputs": {"j": " " * MAX_STRING_BYTES + "1"}})
    with pytest.raises(ExpressionError, match="not valid JSON"):  # unbalanced quotes: still one linear scan
        value_of("fromJSON(inputs.j)", {"inputs": {"j": '"' + '\\"' * 30_000}})
    with pytest.raises(ExpressionError, match="Infinity is not JSON"):
        value_of("fromJSON('[Infinity]')")


def test_data_work_per_evaluation_is_bounded() -> None:
    scope = {"inputs": {"s": "a" * 60_000, "items": list(range(300_000)), "j": "[" + "0," * 30_000 + "0]"}}
    assert value_of("length(toJSON(inputs.s)) > 0", scope) is True
    many = " && ".join(["toJSON(inputs.s)"] * 20)  # 20 x 60 KB of JSON text: more than the budget
    with pytest.raises(ExpressionError, match="expression processes more than 1 MiB of data"):
        value_of(many, scope)
    with pytest.raises(ExpressionError, match="more than 1 MiB of data"):
        value_of(" && ".join(["fromJSON(inputs.j)"] * 20), scope)
    with pytest.raises(ExpressionError, match="more than 1 MiB of data"):
        value_of(" || ".join(["contains(inputs.items, -1)"] * 5), scope)
    with pytest.raises(ExpressionError, match="more than 1 MiB of data"):  # a scan Python would do item by item
        value_of("join(inputs.items, '')", scope)
    assert value_of("contains(inputs.items, 'x')", scope) is False  # one scan in C is fine
    assert value_of("contains(inputs.items, 99999)", {"inputs": {"items": list(range(100_000))}}) is True
    assert value_of(many.split(" && ")[0], scope)  # and the budget is per evaluation


def test_contains_is_strict_about_types_even_when_scanning_in_c() -> None:
    scope = {"inputs": {"bools": [True, False], "ints": [1, 0], "floats": [1.0], "nested": [[True], [1.0], {"a": 1}]}}
    cases = [
        ("contains(inputs.bools, 1)", False),
        ("contains(inputs.bools, true)", True),
        ("contains(inputs.ints, true)", False),
        ("contains(inputs.ints, false)", False),
        ("contains(inputs.ints, 0)", True),
        ("contains(inputs.floats, 1)", True),
        ("contains(inputs.nested, fromJSON('[1]'))", False),
        ("contains(inputs.nested, fromJSON('[true]'))", True),
        ("contains(inputs.nested, fromJSON('[1.0]'))", True),
        ("contains(inputs.nested, fromJSON('{\"a\": 1}'))", True),
        ("contains(inputs.nested, null)", False),
    ]
    for text, expected in cases:
        assert value_of(text, scope) is expected, text


def test_render_shares_one_budget_across_its_strings() -> None:
    scope = {"inputs": {"s": "a" * 60_000}}
    assert render(["${{ length(inputs.s) }}"] * 1000, scope) == [60_000] * 1000
    with pytest.raises(ExpressionError, match="more than 1 MiB of data") as caught:
        render({"args": ["${{ length(toJSON(inputs.s)) }}"] * 30}, scope)
    assert caught.value.path is not None and caught.value.path.startswith("args.")
