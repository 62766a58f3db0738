"""Finding cycles in a directed graph, each reported once as the path that closes it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["find_cycles"]


def find_cycles(successors: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """One cycle per back edge of a depth-first search, as ``[a, b, ..., a]``.

    Iterative, so deep graphs do not hit the recursion limit. Every graph with a cycle yields at
    least one; a cycle whose node set was already reported is not repeated.
    """
    done: set[str] = set()
    cycles: list[list[str]] = []
    reported: set[frozenset[str]] = set()
    for start in successors:
        if start in done:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        on_stack = {start: 0}
        while stack:
            node, next_child = stack[-1]
            children = successors.get(node, ())
            if next_child == len(children):
                stack.pop()
                del on_stack[node]
                done.add(node)
                continue
            stack[-1] = (node, next_child + 1)
            child = children[next_child]
            if child in on_stack:
                cycle = [name for name, _ in stack[on_stack[child] :]] + [child]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    cycles.append(cycle)
            elif child not in done:
                on_stack[child] = len(stack)
                stack.append((child, 0))
    return cycles
