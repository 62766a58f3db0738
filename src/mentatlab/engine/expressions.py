"""Expressions in ``conditional`` and ``for_each`` nodes, e.g. ``inputs.classifier.result``.

Evaluated with simpleeval: Python-like syntax over plain data, no access to builtins,
dunder attributes or unbounded arithmetic. ``inputs`` maps each finished upstream node to
its outputs, so ``inputs.NODE.PIN`` (or ``inputs["NODE"]["PIN"]``) reads a value.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from simpleeval import AttributeDoesNotExist, EvalWithCompoundTypes, InvalidExpression

__all__ = ["ExpressionError", "evaluate"]

_FUNCTIONS = {
    "len": len,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "sorted": sorted,
}


class _DataEvaluator(EvalWithCompoundTypes):  # type: ignore[misc]
    """Reads ``a.b`` on objects as the key ``b`` first, so a pin named ``items`` or ``keys``
    means the data, not the dict method of that name."""

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        if not node.attr.startswith("_"):
            base = self._eval(node.value)
            if isinstance(base, dict):
                if node.attr in base:
                    return base[node.attr]
                raise AttributeDoesNotExist(node.attr, self.expr)
        return super()._eval_attribute(node)


class ExpressionError(Exception):
    """An expression that does not parse, or fails on the data it was given."""


def evaluate(
    expression: str,
    *,
    inputs: Mapping[str, Mapping[str, Any]],
    params: Mapping[str, Any] | None = None,
) -> Any:
    evaluator = _DataEvaluator(
        names={
            "inputs": dict(inputs),
            "params": dict(params or {}),
            "true": True,
            "false": False,
            "null": None,
        },
        functions=_FUNCTIONS,
    )
    try:
        return evaluator.eval(expression)
    except InvalidExpression as exc:
        raise ExpressionError(f"expression {expression!r}: {exc}") from None
    except SyntaxError as exc:
        raise ExpressionError(f"expression {expression!r} is not valid: {exc.msg}") from None
    except (TypeError, ValueError, KeyError, IndexError, ArithmeticError) as exc:
        raise ExpressionError(
            f"expression {expression!r} failed: {type(exc).__name__}: {exc}"
        ) from None
