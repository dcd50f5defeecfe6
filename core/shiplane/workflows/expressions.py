"""The sandboxed expression language of workflow templates.

Templates carry tenant-written expressions: ``${{ inputs.version }}`` inside config
strings, and ``when`` conditions such as ``inputs.env == 'prod' && steps.test.outputs.passed``.
They are read by the small grammar below (a tokenizer and a recursive-descent parser
producing this module's own node classes) and evaluated over JSON values only: no
``eval``, ``compile``, attribute access or format strings, and a value from the scope is
only ever read by key (objects) or integer index (arrays).

Every input is bounded so that a tenant cannot slow the server: the text, the syntax
tree (depth and node count), each string produced, each integer produced, the
``toJSON``/``fromJSON`` conversions, and the data work of one evaluation or render
(_Budget). Evaluation visits each node of the tree at most once: the language has no
loops and no recursion, and nothing recurses on data (JSON goes through the json
module's C code after a non-recursive depth check). The page that documents all this
is docs/workflows-expressions.md.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

__all__ = [
    "DEFAULT_ROOTS",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_NODES",
    "MAX_STRING_BYTES",
    "MAX_TEXT",
    "MAX_WORK",
    "Expression",
    "ExpressionError",
    "Reference",
    "expressions_in",
    "parse",
    "parse_condition",
    "render",
    "truthy",
]

DEFAULT_ROOTS: Final = ("inputs", "steps", "run", "env")
MAX_TEXT: Final = 1000  # characters of one expression
MAX_DEPTH: Final = 32  # nesting of the syntax tree, of parentheses, and of JSON in toJSON/fromJSON
MAX_NODES: Final = 200  # nodes of the syntax tree (each `.name` / `[index]` counts as one)
MAX_STRING_BYTES: Final = 64 * 1024  # UTF-8 bytes of any string produced, and of fromJSON's input
MAX_DIGITS: Final = 30  # digits of a number literal and of an integer result
MAX_WORK: Final = 1024 * 1024  # units of data work in one evaluate() or render() call (see _Budget)
# What scanning one array item costs: compared in C, tagged with its type in C, or visited by Python code.
_ITEM_COST: Final = 1
_TYPED_ITEM_COST: Final = 4
_PYTHON_ITEM_COST: Final = 16
_DUMP_COST: Final = 64  # the fixed part of a conversion to JSON text (encode, then check size and depth)
_INT_BOUND: Final = 10**MAX_DIGITS
_OPEN: Final = "${{"
_CLOSE: Final = "}}"


class ExpressionError(ValueError):
    """An expression that does not parse or cannot be evaluated.

    ``position`` is a 0-based character offset: into the expression's text, or, for
    errors from :func:`expressions_in` and :func:`render`, into the config string the
    ``${{ }}`` sits in (then ``path`` names that string, e.g. ``headers.Authorization``).
    """

    def __init__(self, message: str, position: int | None = None, *, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.path = path

    def __str__(self) -> str:
        text = self.message if self.position is None else f"{self.message} (at position {self.position})"
        if self.path is not None:
            text = f"{self.path or '(the value itself)'}: {text}"
        return text


def _show(text: str, limit: int = 40) -> str:
    """``text`` quoted for an error message: one line, shortened."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


@dataclass(frozen=True)
class Reference:
    """A path an expression reads, e.g. ``("steps", "build", "outputs", "digest")``."""

    path: tuple[str | int, ...]

    def __str__(self) -> str:
        parts = [str(self.path[0])] if self.path else []
        for part in self.path[1:]:
            parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
        return "".join(parts)


# --- Syntax tree -------------------------------------------------------------------------------


class _Node:
    __slots__ = ("depth", "pos")
    depth: int  # 1 for a leaf
    pos: int  # offset of the node's first character, or of its operator

    def __init__(self, pos: int, children: Iterable[_Node]) -> None:
        self.pos = pos
        self.depth = 1 + max((child.depth for child in children), default=0)


class _Literal(_Node):
    __slots__ = ("value",)

    def __init__(self, pos: int, value: Any) -> None:
        super().__init__(pos, ())
        self.value = value


# A path segment: a static key or index, or an expression computing one.
_Segment = str | int | _Node


class _Path(_Node):
    """``root.a['b'][0]`` (base is the root's name) or ``fromJSON(x).a`` (base is a node)."""

    __slots__ = ("base", "segments")

    def __init__(self, pos: int, base: str | _Node, segments: tuple[_Segment, ...]) -> None:
        children = [s for s in segments if isinstance(s, _Node)]
        if isinstance(base, _Node):
            children.append(base)
        super().__init__(pos, children)
        self.base = base
        self.segments = segments


class _Unary(_Node):
    __slots__ = ("op", "operand")

    def __init__(self, pos: int, op: str, operand: _Node) -> None:
        super().__init__(pos, (operand,))
        self.op = op
        self.operand = operand


class _Binary(_Node):
    __slots__ = ("left", "op", "right")

    def __init__(self, pos: int, op: str, left: _Node, right: _Node) -> None:
        super().__init__(pos, (left, right))
        self.op = op
        self.left = left
        self.right = right


class _Logical(_Node):
    """``a && b && c`` or ``a || b || c`` as one node, evaluated left to right with short-circuit."""

    __slots__ = ("op", "operands")

    def __init__(self, pos: int, op: str, operands: tuple[_Node, ...]) -> None:
        super().__init__(pos, operands)
        self.op = op
        self.operands = operands


class _Call(_Node):
    __slots__ = ("args", "name")

    def __init__(self, pos: int, name: str, args: tuple[_Node, ...]) -> None:
        super().__init__(pos, args)
        self.name = name
        self.args = args


# --- Tokenizer ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "num", "str", "name", "op", "end"
    value: Any
    pos: int
    text: str


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>[0-9]+(?:\.[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<op>\*\*|\|\||&&|==|!=|<=|>=|[<>!+\-*/%()\[\].,=&|])
  | (?P<quote>['"])
    """,
    re.VERBOSE,
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_ESCAPES: Final = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}
_REFUSED_OPERATORS: Final = {
    "**": "'**' is not an operator (there is no exponent)",
    "=": "'=' is not an operator; compare with '=='",
    "&": "'&' is not an operator; use '&&'",
    "|": "'|' is not an operator; use '||'",
}


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    end = len(text)
    while pos < end:
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ExpressionError(f"unexpected character {_show(text[pos])}", pos)
        kind = match.lastgroup
        raw = match.group()
        if kind == "ws":
            pass
        elif kind == "num":
            following = text[match.end() : match.end() + 1]
            if following and (following == "." or following.isalnum() or following == "_"):
                raise ExpressionError(f"invalid number {_show(text[pos : match.end() + 1])}", pos)
            if sum(c.isdigit() for c in raw) > MAX_DIGITS:
                raise ExpressionError(f"a number may have at most {MAX_DIGITS} digits", pos)
            tokens.append(_Token("num", float(raw) if "." in raw else int(raw), pos, raw))
        elif kind == "name":
            if raw.startswith("_"):
                raise ExpressionError(f"names starting with '_' are not allowed: {_show(raw)}", pos)
            tokens.append(_Token("name", raw, pos, raw))
        elif kind == "op":
            if raw in _REFUSED_OPERATORS:
                raise ExpressionError(_REFUSED_OPERATORS[raw], pos)
            tokens.append(_Token("op", raw, pos, raw))
        else:  # a quote: scan the string literal
            value, after = _scan_string(text, pos)
            tokens.append(_Token("str", value, pos, text[pos:after]))
            pos = after
            continue
        pos = match.end()
    tokens.append(_Token("end", None, end, ""))
    return tokens


def _scan_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    chars: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == quote:
            return "".join(chars), pos + 1
        if char == "\\":
            escaped = text[pos + 1 : pos + 2]
            if escaped not in _ESCAPES:
                shown = _show("\\" + escaped) if escaped else "'\\' at the end"
                raise ExpressionError(
                    f"unknown escape {shown} in a string (use \\\\, \\', \\\", \\n or \\t)",
                    pos,
                )
            chars.append(_ESCAPES[escaped])
            pos += 2
            continue
        chars.append(char)
        pos += 1
    raise ExpressionError("unterminated string", start)


# --- Parser ------------------------------------------------------------------------------------

_COMPARISONS: Final = ("<", "<=", ">", ">=")
# Binary operators by precedence, loosest first. && and || chains become one _Logical node.
_PRECEDENCE: Final = {
    "||": 1,
    "&&": 2,
    "==": 3,
    "!=": 3,
    "<": 4,
    "<=": 4,
    ">": 4,
    ">=": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "%": 6,
}
_TOO_DEEP: Final = f"expression nested too deeply (more than {MAX_DEPTH} levels)"


class _Parser:
    """Recursive descent with precedence climbing: a few Python frames per nesting level."""

    def __init__(self, text: str, roots: tuple[str, ...]) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.roots = roots
        self.nesting = 0
        self.nodes = 0

    # Token access.
    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def at(self, *ops: str) -> bool:
        token = self.peek()
        return token.kind == "op" and token.value in ops

    def expect(self, op: str) -> _Token:
        token = self.peek()
        if not self.at(op):
            raise ExpressionError(f"expected '{op}' but found {_describe(token)}", token.pos)
        return self.advance()

    def count(self, pos: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExpressionError(f"expression too large (more than {MAX_NODES} nodes)", pos)

    def built(self, node: _Node) -> _Node:
        self.count(node.pos)
        if node.depth > MAX_DEPTH:
            raise ExpressionError(_TOO_DEEP, node.pos)
        return node

    def enter(self, pos: int) -> None:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise ExpressionError(_TOO_DEEP, pos)

    # Grammar.
    def parse(self) -> _Node:
        if self.peek().kind == "end":
            raise ExpressionError("empty expression", 0)
        node = self.expression()
        token = self.peek()
        if token.kind != "end":
            raise ExpressionError(f"unexpected {_describe(token)}", token.pos)
        return node

    def expression(self) -> _Node:
        self.enter(self.peek().pos)
        node = self.binary(1)
        self.nesting -= 1
        return node

    def binary(self, least: int) -> _Node:
        """Operators binding at least as tightly as ``least``, left-associative."""
        left = self.unary()
        while True:
            token = self.peek()
            precedence = _PRECEDENCE.get(token.value) if token.kind == "op" else None
            if precedence is None or precedence < least:
                return left
            if token.value in ("&&", "||"):
                operands = [left]
                while self.at(token.value):
                    self.advance()
                    operands.append(self.binary(precedence + 1))
                left = self.built(_Logical(token.pos, token.value, tuple(operands)))
            else:
                self.advance()
                right = self.binary(precedence + 1)
                left = self.built(_Binary(token.pos, token.value, left, right))

    def unary(self) -> _Node:
        if not self.at("!", "-"):
            return self.postfix()
        token = self.advance()
        self.enter(token.pos)
        operand = self.unary()
        self.nesting -= 1
        return self.built(_Unary(token.pos, token.value, operand))

    def postfix(self) -> _Node:
        token = self.advance()
        if token.kind in ("num", "str"):
            return self.built(_Literal(token.pos, token.value))
        if token.kind == "op" and token.value == "(":
            inner = self.expression()
            self.expect(")")
            return self.accesses(token.pos, inner)
        if token.kind != "name":
            raise ExpressionError(f"unexpected {_describe(token)}", token.pos)
        if self.at("("):
            return self.accesses(token.pos, self.call(token))
        if token.value in ("true", "false", "null"):
            return self.built(_Literal(token.pos, {"true": True, "false": False, "null": None}[token.value]))
        if token.value not in self.roots:
            raise ExpressionError(
                f"unknown name {_show(token.value)}: a reference starts with one of {', '.join(self.roots)}",
                token.pos,
            )
        return self.accesses(token.pos, token.value)

    def accesses(self, pos: int, base: str | _Node) -> _Node:
        """The ``.name`` and ``[index]`` accesses after a root, a call or a parenthesised expression."""
        segments: list[_Segment] = []
        while self.at(".", "["):
            token = self.advance()
            self.count(token.pos)
            if token.value == ".":
                name = self.advance()
                if name.kind != "name":
                    raise ExpressionError(f"expected a name after '.' but found {_describe(name)}", name.pos)
                segments.append(name.value)
                continue
            index = self.expression()
            self.expect("]")
            if isinstance(index, _Literal):
                value = index.value
                if isinstance(value, str) and value.startswith("_"):
                    raise ExpressionError(f"names starting with '_' are not allowed: {_show(value)}", index.pos)
                if not isinstance(value, str) and type(value) is not int:
                    raise ExpressionError("an index must be a string or an integer", index.pos)
                segments.append(value)
            else:
                segments.append(index)
        if isinstance(base, _Node) and not segments:
            return base
        return self.built(_Path(pos, base, tuple(segments)))

    def call(self, name: _Token) -> _Node:
        spec = FUNCTIONS.get(name.value)
        if spec is None:
            known = {n.lower(): n for n in FUNCTIONS}
            hint = f"; did you mean '{known[name.value.lower()]}'?" if name.value.lower() in known else ""
            raise ExpressionError(f"unknown function {_show(name.value)}{hint}", name.pos)
        self.expect("(")
        args: list[_Node] = []
        if not self.at(")"):
            args.append(self.expression())
            while self.at(","):
                self.advance()
                args.append(self.expression())
        self.expect(")")
        low, high = spec.arity
        if not low <= len(args) <= (high if high is not None else len(args)):
            wanted = str(low) if low == high else f"{low} to {high}" if high is not None else f"at least {low}"
            plural = "" if (high if high is not None else low) == 1 else "s"
            raise ExpressionError(f"{name.value}() takes {wanted} argument{plural}, got {len(args)}", name.pos)
        return self.built(_Call(name.pos, name.value, tuple(args)))


def _describe(token: _Token) -> str:
    return "the end of the expression" if token.kind == "end" else _show(token.text)


# --- Values ------------------------------------------------------------------------------------


def _kind(value: Any, pos: int | None) -> str:
    """The JSON type of ``value``; anything else in the scope is refused, never touched."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    raise ExpressionError(f"the scope holds a value that is not JSON ({type(value).__name__})", pos)


def truthy(value: Any) -> bool:
    """``null``, ``false``, ``0``, ``""`` and empty arrays and objects are false; the rest is true."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) > 0
    return True


def _checked_string(value: str, pos: int | None) -> str:
    if len(value) > MAX_STRING_BYTES or (
        len(value) * 4 > MAX_STRING_BYTES and len(value.encode("utf-8", "surrogatepass")) > MAX_STRING_BYTES
    ):
        raise ExpressionError(f"string longer than {MAX_STRING_BYTES // 1024} KiB", pos)
    return value


def _checked_number(value: int | float, pos: int | None) -> int | float:
    if isinstance(value, int):
        if -_INT_BOUND < value < _INT_BOUND:
            return value
        raise ExpressionError(f"integer result with more than {MAX_DIGITS} digits", pos)
    if math.isfinite(value):
        return value
    raise ExpressionError("number result is not finite", pos)


class _Budget:
    """The data work of one evaluate() or render() call, at most MAX_WORK units.

    Node visits are bounded by the tree; this bounds what functions and operators do
    with data, so that a 64 KiB string can be produced, compared or parsed only so many
    times. A character produced, parsed or serialized costs one unit; an array item
    scanned costs _ITEM_COST, _TYPED_ITEM_COST or _PYTHON_ITEM_COST; a conversion to
    JSON text costs _DUMP_COST more. Loops are charged before they run; C-level
    operations whose size is only known afterwards (json.dumps of a scope value) are
    charged after, so a call overshoots by at most one of those.
    """

    __slots__ = ("spent",)

    def __init__(self) -> None:
        self.spent = 0

    def spend(self, amount: int, pos: int | None) -> None:
        self.spent += amount
        if self.spent > MAX_WORK:
            raise ExpressionError(f"expression processes more than {MAX_WORK // (1024 * 1024)} MiB of data", pos)


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    raise ExpressionError(f"the scope holds a value that is not JSON ({type(value).__name__})")


# A JSON string; an unterminated one runs to the end, so the scan stays linear.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\Z)', re.DOTALL)
_ALL_BUT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
_CURLY_TO_SQUARE: Final = bytes.maketrans(b"{}", b"[]")


def _nesting_problem(text: str) -> str | None:
    """None when the JSON text nests at most MAX_DEPTH deep, else "deep" or "unbalanced".

    No recursion and no per-character Python loop: strings and everything but brackets
    are dropped (in C), then each round of ``replace(b"[]", b"")`` removes exactly one
    level of nesting.
    """
    outside = _JSON_STRING.sub("", text).encode("utf-8", "surrogatepass")
    brackets = outside.translate(_CURLY_TO_SQUARE, _ALL_BUT_BRACKETS)
    for _ in range(MAX_DEPTH):
        if not brackets:
            return None
        reduced = brackets.replace(b"[]", b"")
        if len(reduced) == len(brackets):
            return "unbalanced"
        brackets = reduced
    return "deep" if brackets else None


def _dump(value: Any, pos: int | None, budget: _Budget, *, sort_keys: bool = False) -> str:
    """Compact JSON of ``value`` (the json module's C encoder), at most MAX_DEPTH deep and 64 KiB."""
    try:
        text = json.dumps(
            value,
            ensure_ascii=False,
            separators=(",", ":"),
            allow_nan=False,
            sort_keys=sort_keys,
            default=_json_default,
        )
    except ExpressionError as exc:
        raise ExpressionError(exc.message, pos) from None
    except RecursionError:
        raise ExpressionError(f"value nested more than {MAX_DEPTH} levels deep", pos) from None
    except (ValueError, TypeError):
        raise ExpressionError(
            "value has no JSON form (a number that is not finite or too long, or an unusable object key)", pos
        ) from None
    if len(text) > MAX_STRING_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_STRING_BYTES:
        raise ExpressionError(f"value longer than {MAX_STRING_BYTES // 1024} KiB as JSON", pos)
    budget.spend(_DUMP_COST + len(text), pos)
    if _nesting_problem(text) is not None:
        raise ExpressionError(f"value nested more than {MAX_DEPTH} levels deep", pos)
    return text


def _text(value: Any, pos: int | None, budget: _Budget) -> str:
    """A value as text: strings as they are, null as "", the rest as compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return _dump(value, pos, budget)


def _equal(left: Any, right: Any, pos: int, budget: _Budget) -> bool:
    """Same JSON type and same value; arrays and objects by their JSON text with sorted keys."""
    kind = _kind(left, pos)
    if kind != _kind(right, pos):
        return False
    if kind in ("array", "object"):
        return left is right or _dump(left, pos, budget, sort_keys=True) == _dump(right, pos, budget, sort_keys=True)
    return bool(left == right)


def _ordered(op: str, left: Any, right: Any, pos: int) -> bool:
    kind = _kind(left, pos)
    if kind != _kind(right, pos) or kind not in ("number", "string"):
        return False
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _arithmetic(op: str, left: Any, right: Any, pos: int, budget: _Budget) -> Any:
    left_kind, right_kind = _kind(left, pos), _kind(right, pos)
    if op == "+" and left_kind == right_kind == "string":
        if len(left) + len(right) > MAX_STRING_BYTES:
            raise ExpressionError(f"string longer than {MAX_STRING_BYTES // 1024} KiB", pos)
        budget.spend(len(left) + len(right), pos)
        return _checked_string(left + right, pos)
    if left_kind != "number" or right_kind != "number":
        wanted = "two numbers or two strings" if op == "+" else "numbers"
        raise ExpressionError(f"'{op}' needs {wanted}, got {left_kind} and {right_kind}", pos)
    _checked_number(left, pos)  # numbers from the scope are held to the same bounds
    _checked_number(right, pos)
    if op == "+":
        return _checked_number(left + right, pos)
    if op == "-":
        return _checked_number(left - right, pos)
    if op == "*":
        return _checked_number(left * right, pos)
    if right == 0:
        raise ExpressionError("division by zero" if op == "/" else "modulo by zero", pos)
    if op == "%":
        return _checked_number(left % right, pos)
    if isinstance(left, int) and isinstance(right, int) and left % right == 0:
        return _checked_number(left // right, pos)
    return _checked_number(left / right, pos)


# --- Functions ---------------------------------------------------------------------------------


def _string_arg(function: str, value: Any, pos: int) -> str:
    """A string argument; a missing value (null) reads as ""."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise ExpressionError(f"{function}() needs a string, got {_kind(value, pos)}", pos)


def _array_contains(items: list[Any] | tuple[Any, ...], needle: Any, pos: int, budget: _Budget) -> bool:
    """``needle`` is an item of ``items`` (by ``==``), with the scans done in C."""
    budget.spend(_ITEM_COST * len(items), pos)
    kind = _kind(needle, pos)
    if kind in ("string", "null"):
        return needle in items  # a string or None equals only a string or None
    if needle not in items:  # Python's == is looser than ours (1 == true), never stricter
        return False
    if kind == "boolean":
        budget.spend(_TYPED_ITEM_COST * len(items), pos)
        return (bool, needle) in zip(map(type, items), items, strict=True)  # true, not 1
    if kind == "number":
        budget.spend(2 * _TYPED_ITEM_COST * len(items), pos)
        return any((number_type, needle) in zip(map(type, items), items, strict=True) for number_type in (int, float))
    target = _dump(needle, pos, budget, sort_keys=True)
    start = 0
    while True:  # candidates equal in Python's sense, confirmed by their JSON text; each one is charged
        try:
            start = items.index(needle, start) + 1
        except ValueError:
            return False
        budget.spend(_PYTHON_ITEM_COST, pos)
        if _dump(items[start - 1], pos, budget, sort_keys=True) == target:
            return True


def _fn_contains(args: list[Any], pos: int, budget: _Budget) -> Any:
    haystack, needle = args
    kind = _kind(haystack, pos)
    if kind == "null":
        return False
    if kind == "string":
        if _kind(needle, pos) in ("array", "object"):
            raise ExpressionError("contains() looks for a string, number, boolean or null in a string", pos)
        budget.spend(len(haystack), pos)
        return _text(needle, pos, budget) in haystack
    if kind == "array":
        return _array_contains(haystack, needle, pos, budget)
    raise ExpressionError(f"contains() searches a string or an array, got {kind}", pos)


def _fn_starts_with(args: list[Any], pos: int, budget: _Budget) -> Any:
    return _string_arg("startsWith", args[0], pos).startswith(_string_arg("startsWith", args[1], pos))


def _fn_ends_with(args: list[Any], pos: int, budget: _Budget) -> Any:
    return _string_arg("endsWith", args[0], pos).endswith(_string_arg("endsWith", args[1], pos))


def _fn_length(args: list[Any], pos: int, budget: _Budget) -> Any:
    (value,) = args
    kind = _kind(value, pos)
    if kind == "null":
        return 0
    if kind in ("string", "array", "object"):
        return len(value)
    raise ExpressionError(f"length() needs a string, an array or an object, got {kind}", pos)


def _fn_to_json(args: list[Any], pos: int, budget: _Budget) -> Any:
    return _dump(args[0], pos, budget)


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ExpressionError(f"fromJSON(): an integer with more than {MAX_DIGITS} digits")
    return int(text)


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ExpressionError(f"fromJSON(): the number {_show(text)} is out of range")
    return value


def _json_constant(text: str) -> Any:
    raise ExpressionError(f"fromJSON(): {text} is not JSON")


def _fn_from_json(args: list[Any], pos: int, budget: _Budget) -> Any:
    (text,) = args
    if not isinstance(text, str):
        raise ExpressionError(f"fromJSON() needs a string, got {_kind(text, pos)}", pos)
    if len(text) > MAX_STRING_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_STRING_BYTES:
        raise ExpressionError(f"fromJSON() input longer than {MAX_STRING_BYTES // 1024} KiB", pos)
    budget.spend(len(text), pos)
    problem = _nesting_problem(text)  # before parsing: the json module recurses
    if problem == "deep":
        raise ExpressionError(f"fromJSON() input nested more than {MAX_DEPTH} levels deep", pos)
    if problem == "unbalanced":
        raise ExpressionError("fromJSON(): not valid JSON (unbalanced brackets)", pos)
    try:
        return json.loads(text, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant)
    except ExpressionError as exc:
        raise ExpressionError(exc.message, pos) from None
    except ValueError as exc:  # json.JSONDecodeError
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "invalid"
        raise ExpressionError(f"fromJSON(): not valid JSON ({detail})", pos) from None


_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([0-9]{1,3})\}|[{}]")


def _fn_format(args: list[Any], pos: int, budget: _Budget) -> Any:
    template, values = args[0], args[1:]
    if not isinstance(template, str):
        raise ExpressionError(f"format() needs a string first, got {_kind(template, pos)}", pos)
    budget.spend(len(template), pos)
    texts: dict[int, str] = {}
    parts: list[str] = []
    size = 0
    last = 0
    for match in _PLACEHOLDER.finditer(template):
        token = match.group()
        if token in ("{", "}"):
            raise ExpressionError(
                f"format(): unmatched {_show(token)} at {match.start()} (write '{{{{' or '}}}}' for a brace)", pos
            )
        if token in ("{{", "}}"):
            piece = token[0]
        else:
            index = int(match.group(1))
            if index >= len(values):
                raise ExpressionError(f"format(): {{{index}}} but only {len(values)} values given", pos)
            if index not in texts:
                texts[index] = _text(values[index], pos, budget)
            piece = texts[index]
        literal = template[last : match.start()]
        size += len(literal) + len(piece)
        if size > MAX_STRING_BYTES:
            raise ExpressionError(f"string longer than {MAX_STRING_BYTES // 1024} KiB", pos)
        parts.append(literal)
        parts.append(piece)
        last = match.end()
    parts.append(template[last:])
    result = _checked_string("".join(parts), pos)
    budget.spend(len(result), pos)
    return result


def _fn_join(args: list[Any], pos: int, budget: _Budget) -> Any:
    items = args[0]
    separator = _string_arg("join", args[1], pos) if len(args) > 1 else ","
    kind = _kind(items, pos)
    if kind == "null":
        return ""
    if kind == "string":
        return items
    if kind != "array":
        raise ExpressionError(f"join() needs an array, got {kind}", pos)
    too_long = f"string longer than {MAX_STRING_BYTES // 1024} KiB"
    if len(separator) * (len(items) - 1) > MAX_STRING_BYTES:
        raise ExpressionError(too_long, pos)
    budget.spend(_TYPED_ITEM_COST * len(items), pos)
    if set(map(type, items)) <= {str}:  # the usual case, in C
        texts = items
    else:
        budget.spend(_PYTHON_ITEM_COST * len(items), pos)
        texts = [_text(item, pos, budget) for item in items]
    if sum(map(len, texts)) + len(separator) * max(len(items) - 1, 0) > MAX_STRING_BYTES:
        raise ExpressionError(too_long, pos)
    result = _checked_string(separator.join(texts), pos)
    budget.spend(len(result), pos)
    return result


def _fn_lower(args: list[Any], pos: int, budget: _Budget) -> Any:
    text = _string_arg("lower", args[0], pos)
    budget.spend(len(text), pos)
    return _checked_string(text.lower(), pos)


def _fn_upper(args: list[Any], pos: int, budget: _Budget) -> Any:
    text = _string_arg("upper", args[0], pos)
    budget.spend(len(text), pos)
    return _checked_string(text.upper(), pos)


@dataclass(frozen=True)
class _Function:
    arity: tuple[int, int | None]  # (least, most); None: no upper bound
    run: Callable[[list[Any], int, _Budget], Any]


FUNCTIONS: Final[Mapping[str, _Function]] = {
    "contains": _Function((2, 2), _fn_contains),
    "startsWith": _Function((2, 2), _fn_starts_with),
    "endsWith": _Function((2, 2), _fn_ends_with),
    "length": _Function((1, 1), _fn_length),
    "toJSON": _Function((1, 1), _fn_to_json),
    "fromJSON": _Function((1, 1), _fn_from_json),
    "format": _Function((1, None), _fn_format),
    "join": _Function((1, 2), _fn_join),
    "lower": _Function((1, 1), _fn_lower),
    "upper": _Function((1, 1), _fn_upper),
}


# --- Evaluation --------------------------------------------------------------------------------


class _Evaluation:
    __slots__ = ("budget", "scope", "steps")

    def __init__(self, scope: Mapping[str, Any], budget: _Budget) -> None:
        self.scope = scope
        self.budget = budget
        self.steps = 0  # nodes and path segments visited: at most the tree's node count


def _lookup(container: Any, key: Any) -> Any:
    """``container[key]`` for JSON data; anything missing or mistyped is null."""
    if isinstance(container, Mapping):
        if isinstance(key, str) and not key.startswith("_"):
            return container.get(key)
        return None
    if isinstance(container, list | tuple):
        if type(key) is int and 0 <= key < len(container):
            return container[key]
    return None


def _eval(node: _Node, ev: _Evaluation) -> Any:
    ev.steps += 1
    if isinstance(node, _Literal):
        return node.value
    if isinstance(node, _Path):
        current = ev.scope.get(node.base) if isinstance(node.base, str) else _eval(node.base, ev)
        for segment in node.segments:
            ev.steps += 1
            key = _eval(segment, ev) if isinstance(segment, _Node) else segment
            current = _lookup(current, key)
        _kind(current, node.pos)
        return current
    if isinstance(node, _Logical):
        stop_at = node.op == "||"  # || stops at the first truthy operand, && at the first falsy one
        for operand in node.operands:
            if truthy(_eval(operand, ev)) is stop_at:
                return stop_at
        return not stop_at
    if isinstance(node, _Unary):
        value = _eval(node.operand, ev)
        if node.op == "!":
            return not truthy(value)
        kind = _kind(value, node.pos)
        if kind != "number":
            raise ExpressionError(f"'-' needs a number, got {kind}", node.pos)
        return _checked_number(-_checked_number(value, node.pos), node.pos)
    if isinstance(node, _Binary):
        left = _eval(node.left, ev)
        right = _eval(node.right, ev)
        if node.op == "==":
            return _equal(left, right, node.pos, ev.budget)
        if node.op == "!=":
            return not _equal(left, right, node.pos, ev.budget)
        if node.op in _COMPARISONS:
            return _ordered(node.op, left, right, node.pos)
        return _arithmetic(node.op, left, right, node.pos, ev.budget)
    if isinstance(node, _Call):
        args = [_eval(arg, ev) for arg in node.args]
        return FUNCTIONS[node.name].run(args, node.pos, ev.budget)
    raise AssertionError(f"unknown node {type(node).__name__}")  # pragma: no cover


def _collect(node: _Node, out: list[Reference]) -> None:
    """The references under ``node``, in the order they appear in the text."""
    if isinstance(node, _Path):
        if isinstance(node.base, str):
            static: list[str | int] = [node.base]
            for segment in node.segments:
                if isinstance(segment, _Node):
                    break
                static.append(segment)
            out.append(Reference(tuple(static)))
        else:
            _collect(node.base, out)
        for segment in node.segments:
            if isinstance(segment, _Node):
                _collect(segment, out)
    elif isinstance(node, _Unary):
        _collect(node.operand, out)
    elif isinstance(node, _Binary):
        _collect(node.left, out)
        _collect(node.right, out)
    elif isinstance(node, _Logical):
        for operand in node.operands:
            _collect(operand, out)
    elif isinstance(node, _Call):
        for arg in node.args:
            _collect(arg, out)


class Expression:
    """A parsed expression. Immutable; parse results are cached, so instances are shared."""

    __slots__ = ("_node", "_references", "node_count", "roots", "text")

    def __init__(self, text: str, roots: tuple[str, ...], node: _Node, node_count: int) -> None:
        self.text = text
        self.roots = roots
        self.node_count = node_count
        self._node = node
        references: list[Reference] = []
        _collect(node, references)
        self._references = tuple(references)

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def references(self) -> list[Reference]:
        """Every path the expression reads, in order (repeats included).

        A path stops before its first computed index: ``inputs.m[inputs.k].x`` reads
        ``("inputs", "m")`` and ``("inputs", "k")``.
        """
        return list(self._references)

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        """The expression's value over ``scope`` (root name -> JSON value)."""
        return self._run(scope)[0]

    def _run(self, scope: Mapping[str, Any], budget: _Budget | None = None) -> tuple[Any, int]:
        """The value and the number of steps taken (never more than ``node_count``)."""
        if not isinstance(scope, Mapping):
            raise ExpressionError("the scope must be a mapping of root names to JSON values")
        ev = _Evaluation(scope, _Budget() if budget is None else budget)
        try:
            value = _eval(self._node, ev)
        except ExpressionError:
            raise
        except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:  # defensive: never another type
            raise ExpressionError(f"cannot evaluate the expression ({type(exc).__name__})") from None
        return value, ev.steps


# --- Parsing entry points ----------------------------------------------------------------------


def _roots(roots: Collection[str]) -> tuple[str, ...]:
    if isinstance(roots, str):
        raise TypeError("roots must be a collection of names, not a string")
    result = tuple(roots)
    for root in result:
        if not isinstance(root, str) or not _NAME.fullmatch(root) or root.startswith("_"):
            raise ValueError(f"invalid root name {root!r}")
    return result


@lru_cache(maxsize=2048)
def _parse_cached(text: str, roots: tuple[str, ...]) -> Expression:
    parser = _Parser(text, roots)
    try:
        node = parser.parse()
    except RecursionError:  # defensive: nesting is bounded far below the interpreter's limit
        raise ExpressionError(_TOO_DEEP) from None
    return Expression(text, roots, node, parser.nodes)


def parse(text: str, *, roots: Collection[str] = DEFAULT_ROOTS) -> Expression:
    """Parse one expression (no ``${{ }}``); ``roots`` are the names a reference may start with."""
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise ExpressionError(f"expression longer than {MAX_TEXT} characters ({len(text)})", MAX_TEXT)
    return _parse_cached(text, _roots(roots))


def parse_condition(text: str, *, roots: Collection[str] = DEFAULT_ROOTS) -> Expression:
    """A ``when`` condition: ``a == b`` or the whole condition in one ``${{ a == b }}``."""
    if not isinstance(text, str):
        raise ExpressionError(f"a condition must be a string, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped.startswith(_OPEN):
        return parse(text, roots=roots)
    offset = len(text) - len(text.lstrip())
    try:
        inner_start, end = _closing(stripped, 0)
    except ExpressionError as exc:
        raise _moved(exc, offset, None) from None
    if end + len(_CLOSE) != len(stripped):
        raise ExpressionError(
            "a condition is one expression: write it without ${{ }}, or wrap all of it in one ${{ }}",
            offset + end + len(_CLOSE),
        )
    inner_start, source = _trimmed(stripped, inner_start, end)
    try:
        return parse(source, roots=roots)
    except ExpressionError as exc:
        raise _moved(exc, offset + inner_start, None) from None


# --- Interpolation -----------------------------------------------------------------------------

# Inside ${{ }}: a complete string literal (skipped, it may hold "}}"), the closing "}}",
# or a quote that starts a string that never ends.
_CLOSE_SCAN = re.compile(r"""'[^'\\]*(?:\\.[^'\\]*)*'|"[^"\\]*(?:\\.[^"\\]*)*"|(\}\})|['"]""", re.DOTALL)


def _closing(text: str, start: int) -> tuple[int, int]:
    """For the ``${{`` at ``start``: where its expression starts and where its ``}}`` is."""
    inner = start + len(_OPEN)
    pos = inner
    while True:
        match = _CLOSE_SCAN.search(text, pos)
        if match is None or (match.group(1) is None and len(match.group()) == 1):
            raise ExpressionError("'${{' is not closed by '}}'", start)
        if match.group(1) is not None:
            return inner, match.start()
        pos = match.end()


def _trimmed(text: str, start: int, end: int) -> tuple[int, str]:
    """``text[start:end]`` without surrounding whitespace, and where that begins."""
    source = text[start:end]
    return start + len(source) - len(source.lstrip()), source.strip()


def _pieces(text: str) -> list[str | tuple[int, str]]:
    """``text`` split into literal text and ``(offset, expression text)`` for each ``${{ }}``."""
    pieces: list[str | tuple[int, str]] = []
    pos = 0
    while True:
        start = text.find(_OPEN, pos)
        if start < 0:
            if pos < len(text):
                pieces.append(text[pos:])
            return pieces
        if start > pos:
            pieces.append(text[pos:start])
        inner, end = _closing(text, start)
        pieces.append(_trimmed(text, inner, end))
        pos = end + len(_CLOSE)


def _moved(exc: ExpressionError, offset: int, path: str | None) -> ExpressionError:
    """``exc`` for a text that starts ``offset`` characters into a larger one."""
    position = offset if exc.position is None else exc.position + offset
    return ExpressionError(exc.message, position, path=path)


def _join_path(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _parsed_pieces(text: str, path: str, roots: tuple[str, ...]) -> list[str | tuple[int, Expression]]:
    try:
        pieces = _pieces(text)
    except ExpressionError as exc:
        raise _moved(exc, 0, path) from None
    parsed: list[str | tuple[int, Expression]] = []
    for piece in pieces:
        if isinstance(piece, str):
            parsed.append(piece)
            continue
        offset, source = piece
        try:
            parsed.append((offset, parse(source, roots=roots)))
        except ExpressionError as exc:
            raise _moved(exc, offset, path) from None
    return parsed


def _strings(value: Any) -> list[tuple[str, str]]:
    """Every string in a JSON value with its dotted path, in document order (iterative)."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            found.append((path, item))
        elif isinstance(item, Mapping):
            for key, member in reversed(list(item.items())):
                stack.append((member, _join_path(path, key)))
        elif isinstance(item, list | tuple):
            for index in range(len(item) - 1, -1, -1):
                stack.append((item[index], _join_path(path, index)))
    return found


def expressions_in(value: Any, *, roots: Collection[str] = DEFAULT_ROOTS) -> list[tuple[str, Expression]]:
    """Every ``${{ ... }}`` in a JSON value (walks dicts/lists; keys are not interpolated),
    as (dotted path of the string in the value, e.g. "headers.Authorization" or "args.2", parsed expression).

    Raises ExpressionError (with the dotted path in the message) for the first that does
    not parse or an unclosed ``${{``. A string at the top level has the path "".
    """
    checked_roots = _roots(roots)
    found: list[tuple[str, Expression]] = []
    for path, text in _strings(value):
        if _OPEN not in text:
            continue
        for piece in _parsed_pieces(text, path, checked_roots):
            if not isinstance(piece, str):
                found.append((path, piece[1]))
    return found


def _render_string(text: str, scope: Mapping[str, Any], path: str, roots: tuple[str, ...], budget: _Budget) -> Any:
    if _OPEN not in text:
        return text
    pieces = _parsed_pieces(text, path, roots)
    expressions = [piece for piece in pieces if not isinstance(piece, str)]
    whole = len(expressions) == 1 and all(not piece.strip() for piece in pieces if isinstance(piece, str))
    parts: list[str] = []
    size = 0
    for piece in pieces:
        if isinstance(piece, str):
            part = piece
        else:
            offset, expression = piece
            try:
                budget.spend(_PYTHON_ITEM_COST * expression.node_count, None)  # many small ones add up too
                value = expression._run(scope, budget)[0]
                if whole:
                    return _checked_string(value, None) if isinstance(value, str) else value
                part = _text(value, None, budget)
            except ExpressionError as exc:
                raise _moved(exc, offset, path) from None
        size += len(part)
        if size > MAX_STRING_BYTES:
            raise ExpressionError(f"rendered string longer than {MAX_STRING_BYTES // 1024} KiB", None, path=path)
        parts.append(part)
    try:
        budget.spend(size, None)
        return _checked_string("".join(parts), None)
    except ExpressionError as exc:
        raise ExpressionError(f"rendered {exc.message}", None, path=path) from None


def render(value: Any, scope: Mapping[str, Any], *, roots: Collection[str] = DEFAULT_ROOTS) -> Any:
    """A copy of value with every string's ${{ }} replaced: a string that is exactly one ${{ expr }}
    (whitespace around allowed) becomes the expression's JSON value; otherwise each ${{ }} is replaced
    by its value as text (strings as is, null as "", others as compact JSON). Output bounded (64 KiB per string).

    Containers are copied (tuples become lists); values taken from the scope are not copied.
    The data work of all the expressions together is bounded by MAX_WORK.
    """
    checked_roots = _roots(roots)
    budget = _Budget()
    holder: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, str]] = [(value, holder, 0, "")]
    while stack:  # iterative, so deep values cannot exhaust the stack
        item, parent, key, path = stack.pop()
        if isinstance(item, str):
            parent[key] = _render_string(item, scope, path, checked_roots, budget)
        elif isinstance(item, Mapping):
            copied: dict[Any, Any] = dict.fromkeys(item)  # keys in order; members filled in below
            parent[key] = copied
            for member_key, member in reversed(list(item.items())):
                stack.append((member, copied, member_key, _join_path(path, member_key)))
        elif isinstance(item, list | tuple):
            copied_list: list[Any] = [None] * len(item)
            parent[key] = copied_list
            for index in range(len(item) - 1, -1, -1):
                stack.append((item[index], copied_list, index, _join_path(path, index)))
        else:
            parent[key] = item
    return holder[0]
