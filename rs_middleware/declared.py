"""The scopes routes declare with ``@requires``: reading the marker, resolving it for a request the
way aiohttp will dispatch it, and refusing at start-up a route table that would hide one.

* A function handler's marker is its own (``functools.wraps`` copies it onto a wrapper).
* A ``web.View`` route needs the class's marker plus the marker of the method ``web.View._iter``
  will call: ``getattr(view, request.method.lower())`` for a method in ``hdrs.METH_ALL``, nothing
  for any other method (the View answers ``405`` and runs nothing). aiohttp's View does not map
  ``HEAD`` to ``get``: ``HEAD`` runs ``head`` if the View has one, else ``405``.
* :func:`audit` walks every route of an application and its sub-applications and refuses a
  handler through which a marked function or View class is reachable — along ``__wrapped__``,
  a method's ``__func__``, a ``functools.partial``'s ``func`` or a closure cell — when the handler
  the route runs does not itself declare those scopes: a decorator over ``@requires`` that
  dropped the marker, a ``partial`` of a marked handler, a marked View called from a function.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Iterator
from typing import Any

from aiohttp import hdrs, web
from aiohttp.abc import AbstractView

SCOPES_ATTR = "__protectserve_scopes__"
#: The attribute names ``web.View`` dispatches to.
VIEW_METHODS = frozenset(m.lower() for m in hdrs.METH_ALL)
#: How many objects the audit follows below one handler (closures can be large graphs).
_MAX_REACH = 500


class UnprotectedRoute(RuntimeError):
    """A route table on which some ``@requires`` would not be enforced by the middleware."""


def required_scopes(handler: Any) -> tuple[str, ...] | None:
    """The scopes declared with ``requires`` on ``handler`` itself, or ``None`` if unmarked."""
    scopes = getattr(handler, SCOPES_ATTR, None)
    return tuple(scopes) if scopes is not None else None


def _union(*declared: tuple[str, ...] | None) -> tuple[str, ...] | None:
    present = [scopes for scopes in declared if scopes is not None]
    return tuple(dict.fromkeys(s for scopes in present for s in scopes)) if present else None


def _is_view(handler: Any) -> bool:
    return isinstance(handler, type) and issubclass(handler, AbstractView)


def view_method(view: type, method: str) -> Any:
    """What ``web.View`` runs for ``method`` (``None``: it answers 405 and runs nothing)."""
    return getattr(view, method.lower(), None) if method in hdrs.METH_ALL else None


def needed_scopes(request: web.Request) -> tuple[str, ...] | None:
    """The scopes the route matched by ``request`` declares (``None``: an unprotected route)."""
    handler = request.match_info.handler
    if _is_view(handler):
        return _union(required_scopes(handler), required_scopes(view_method(handler, request.method)))
    return required_scopes(handler)


def _below(handler: Any) -> Iterator[Any]:
    """Every callable reachable from ``handler`` the way wrappers hold what they wrap."""
    seen, todo, count = {id(handler)}, [handler], 0
    while todo and count < _MAX_REACH:
        current = todo.pop()
        held: list[Any] = [getattr(current, "__wrapped__", None), getattr(current, "__func__", None)]
        if isinstance(current, functools.partial):
            held.append(current.func)
        if isinstance(current, types.FunctionType):
            for cell in current.__closure__ or ():
                try:
                    held.append(cell.cell_contents)
                except ValueError:  # an empty cell
                    continue
        for value in held:
            if value is None or not callable(value) or id(value) in seen:
                continue
            seen.add(id(value))
            count += 1
            yield value
            if not isinstance(value, type):  # a class is checked for its marker, not entered
                todo.append(value)


def _name(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"


def _decl(scopes: tuple[str, ...]) -> str:
    return "@requires(" + ", ".join(f'"{scope}"' for scope in scopes) + ")"


def _hidden(handler: Any, declared: tuple[str, ...] | None) -> list[str]:
    """What is reachable below ``handler`` and needs scopes ``declared`` does not cover."""
    problems = []
    for obj in _below(handler):
        inner = required_scopes(obj)
        if inner is None or declared is not None and set(inner) <= set(declared):
            continue
        what = f"{_decl(inner)} on {_name(obj)}"
        if declared is None:
            problems.append(f"{_name(handler)} carries no @requires but hides {what}")
        else:
            problems.append(f"{_name(handler)} declares only {_decl(declared)} but hides {what}")
    return problems


def audit(app: web.Application) -> None:
    """Raise :class:`UnprotectedRoute`, naming every offending route, if some route of ``app`` or
    of its sub-applications hides a ``@requires`` the middleware would not see."""
    found: dict[tuple[str, str], list[str]] = {}  # (path, problem) -> methods
    for route in app.router.routes():
        handler, path = route.handler, route.resource.canonical if route.resource else "?"
        if _is_view(handler):
            for name in sorted(VIEW_METHODS):
                method = getattr(handler, name, None)
                if method is not None:
                    declared = _union(required_scopes(handler), required_scopes(method))
                    for problem in _hidden(method, declared):
                        found.setdefault((path, problem), []).append(name.upper())
        else:
            for problem in _hidden(handler, required_scopes(handler)):
                found.setdefault((path, problem), []).append(route.method)
    if found:
        lines = [f"  {'/'.join(sorted(set(methods)))} {path}: {problem}" for (path, problem), methods in found.items()]
        raise UnprotectedRoute(
            "ProtectServe refuses to start: @requires would not be enforced on these routes "
            "(a decorator over @requires must use functools.wraps, or put @requires outermost):\n"
            + "\n".join(lines))
