"""Safe expressions in scenario files, e.g. ``"-1.5 if tension >= 7 else -0.3"``.

A rule actor's preference weight or an action's ``when:`` condition may be a small
expression over the scenario's numbers. The text is parsed by Python's ``ast`` and the
tree is checked against a whitelist, then evaluated by walking it: nothing is ever
handed to ``eval`` or ``compile``, so an expression can only compute a number.

Allowed: numbers, ``True``/``False``, names (given by the caller: variables, last
turn's actions, ``turn``), ``+ - * /``, unary ``-``/``+``, comparisons (chained too),
``and``/``or``/``not``, ``a if condition else b``, and the functions ``min``, ``max``,
``abs`` and ``clamp(x, low, high)``. Everything else (attributes, subscripts, strings,
other calls, lambdas, comprehensions, ``**``) is refused when the scenario loads, as is
text longer than ``MAX_LENGTH`` characters, more than ``MAX_NODES`` syntax nodes or
nesting deeper than ``MAX_DEPTH``, so evaluating one is cheap and bounded.

``simpleeval`` was weighed and not used: it evaluates, but cannot list the names an
expression reads without evaluating it (a name in the branch not taken goes unseen, so
a typo would only surface in the turn that takes it), and it allows strings, attribute
access and subscripts, which would each have to be switched off.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

MAX_LENGTH = 300
MAX_NODES = 100
MAX_DEPTH = 32
FUNCTIONS: dict[str, tuple[int, int | None]] = {  # name -> (fewest, most) arguments
    "min": (2, None),
    "max": (2, None),
    "abs": (1, 1),
    "clamp": (3, 3),
}
SYNTAX_HINT = (
    "numbers, names, + - * /, comparisons, and/or/not, 'a if condition else b', "
    "min, max, abs, clamp(x, low, high)"
)

_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_COMPARE: dict[type[ast.cmpop], Callable[[float, float], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_FORBIDDEN = {  # what a refused node is, in a scenario author's words
    ast.Attribute: "attribute access (a.b)",
    ast.Subscript: "indexing (a[b])",
    ast.Lambda: "lambda",
    ast.NamedExpr: "assignment (:=)",
    ast.JoinedStr: "f-strings",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Dict: "mappings",
    ast.Set: "sets",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.Await: "await",
    ast.Starred: "* arguments",
}


class ExpressionError(ValueError):
    """An expression that cannot be used (when parsed) or computed (when evaluated)."""


@dataclass(frozen=True)
class Expression:
    """A checked expression: its text, its tree and the names it reads."""

    source: str
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, values: Mapping[str, float]) -> float:
        """The value, with each name looked up in ``values`` (``True`` is 1.0).

        Raises ``ExpressionError`` for a division by zero, a result that is not a finite
        number, or a name ``values`` does not hold.
        """
        try:
            result = float(_eval(self.tree, values))
        except ZeroDivisionError:
            raise ExpressionError(f"{self.source!r} divides by zero") from None
        except KeyError as e:
            raise ExpressionError(
                f"{self.source!r} reads {e.args[0]!r}, which has no value"
            ) from None
        except OverflowError:
            raise ExpressionError(f"{self.source!r} overflows") from None
        if not math.isfinite(result):
            raise ExpressionError(f"{self.source!r} is {result}, not a finite number")
        return result

    def holds(self, values: Mapping[str, float]) -> bool:
        """The value read as a condition: true unless it is 0."""
        return self.evaluate(values) != 0.0


def parse_expression(source: str) -> Expression:
    """Parse and check ``source``; raises ``ExpressionError`` saying what is not allowed."""
    return _parse(source)


@lru_cache(maxsize=4096)
def _parse(source: str) -> Expression:
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("is empty; write a number or an expression")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(
            f"is {len(source)} characters long, more than the {MAX_LENGTH} an expression may be"
        )
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as e:
        where = f" at column {e.offset}" if e.offset else ""
        raise ExpressionError(f"{source!r} is not an expression{where}: {e.msg}") from None
    except (ValueError, MemoryError, RecursionError) as e:  # e.g. a null byte, deep nesting
        raise ExpressionError(f"{source!r} is not an expression: {e}") from None
    names: set[str] = set()
    count = [0]
    _check(tree.body, source, names, count, 1)
    return Expression(source, tree.body, frozenset(names))


def _check(node: ast.AST, source: str, names: set[str], count: list[int], depth: int) -> None:
    count[0] += 1
    if count[0] > MAX_NODES:
        raise ExpressionError(f"{source!r} is too long: more than {MAX_NODES} parts")
    if depth > MAX_DEPTH:
        raise ExpressionError(f"{source!r} nests deeper than {MAX_DEPTH} levels")

    def refuse(what: str) -> ExpressionError:
        return ExpressionError(f"{source!r}: {what} is not allowed")

    children: list[ast.AST] = []
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool | int | float):
            if not math.isfinite(float(value)):
                raise ExpressionError(f"{source!r} has a number too large to use")
            return
        raise refuse("text" if isinstance(value, str) else repr(value))
    elif isinstance(node, ast.Name):
        names.add(node.id)
        return
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise refuse(f"the operator {_symbol(node.op)}")
        children = [node.left, node.right]
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub | ast.UAdd | ast.Not):
            raise refuse(f"the operator {_symbol(node.op)}")
        children = [node.operand]
    elif isinstance(node, ast.BoolOp):
        children = list(node.values)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise refuse(f"the comparison {_symbol(op)}")
        children = [node.left, *node.comparators]
    elif isinstance(node, ast.IfExp):
        children = [node.test, node.body, node.orelse]
    elif isinstance(node, ast.Call):
        func = node.func
        if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
            called = func.id if isinstance(func, ast.Name) else "a computed function"
            raise refuse(f"a call of {called} (only {', '.join(FUNCTIONS)} may be called)")
        if node.keywords:
            raise refuse("keyword arguments")
        fewest, most = FUNCTIONS[func.id]
        n = len(node.args)
        if n < fewest or (most is not None and n > most):
            wanted = f"{fewest}" if fewest == most else f"at least {fewest}"
            raise ExpressionError(f"{source!r}: {func.id} takes {wanted} argument(s), not {n}")
        children = list(node.args)
    else:
        raise refuse(_FORBIDDEN.get(type(node), type(node).__name__))
    for child in children:
        _check(child, source, names, count, depth + 1)


def _symbol(op: ast.AST) -> str:
    symbols = {
        ast.Pow: "**",
        ast.FloorDiv: "//",
        ast.Mod: "%",
        ast.MatMult: "@",
        ast.BitAnd: "&",
        ast.BitOr: "|",
        ast.BitXor: "^",
        ast.LShift: "<<",
        ast.RShift: ">>",
        ast.Invert: "~",
        ast.In: "in",
        ast.NotIn: "not in",
        ast.Is: "is",
        ast.IsNot: "is not",
    }
    return symbols.get(type(op), type(op).__name__)


def _eval(node: ast.expr, values: Mapping[str, float]) -> Any:
    """The value of a checked tree (``_check`` admitted only the nodes handled here)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_eval(node.left, values), _eval(node.right, values))
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, values)
        if isinstance(node.op, ast.Not):
            return not operand
        return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.BoolOp):
        # Python's semantics: `a or b` is a when a is true, else b (so `x or 1` is a number)
        result: Any = None
        for item in node.values:
            result = _eval(item, values)
            if bool(result) is isinstance(node.op, ast.Or):
                return result
        return result
    if isinstance(node, ast.Compare):
        left = _eval(node.left, values)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _eval(right_node, values)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        branch = node.body if _eval(node.test, values) else node.orelse
        return _eval(branch, values)
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        args = [float(_eval(a, values)) for a in node.args]
        name = node.func.id
        if name == "clamp":
            x, low, high = args
            return min(max(x, low), high)
        if name == "abs":
            return abs(args[0])
        return min(args) if name == "min" else max(args)
    raise ExpressionError(f"cannot evaluate {type(node).__name__}")  # unreachable once checked
