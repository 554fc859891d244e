"""A person at a browser, for the demo: follows the authorization request over plain HTTP with a
cookie jar, signs in when the AM asks, and answers the dialog by submitting its form as a browser
without JavaScript would (hidden fields, the ticked scope checkboxes, the pressed button).

The forms are read with the standard library's HTML parser; nothing here knows more of the pages
than a browser does: the form's ``action``, its inputs and their types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import aiohttp

SIGN_IN = "/admin/login"


@dataclass
class Form:
    action: str
    inputs: list[dict[str, str]] = field(default_factory=list)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._open: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._open = Form(action=values.get("action", ""))
            self.forms.append(self._open)
        elif tag in ("input", "button") and self._open is not None:
            values.setdefault("type", "submit" if tag == "button" else "text")
            if "checked" in values:
                values["checked"] = "checked"
            self._open.inputs.append(values)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def forms(page: str) -> list[Form]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


def _form_for(page: str, *paths: str) -> Form:
    for form in forms(page):
        if urlsplit(form.action).path in paths:
            return form
    raise ValueError(f"no form posting to {' or '.join(paths)} on the page")


def hidden(form: Form) -> list[tuple[str, str]]:
    return [(i["name"], i.get("value", "")) for i in form.inputs if i.get("type") == "hidden" and "name" in i]


async def approve(http: aiohttp.ClientSession, authorize_url: str, *, name: str, password: str,
                  scopes: list[str] | None = None, deny: bool = False,
                  say: Callable[[str], None] = lambda _: None) -> str:
    """GET ``authorize_url``; sign in as ``name`` if asked; approve ``scopes`` of those offered
    (None: all of them; owner questions as the page ticks them) or deny; return the Location the
    AM redirects to (not followed: it is the application's redirect URI)."""
    url = authorize_url
    for _ in range(5):
        async with http.get(url, allow_redirects=False) as r:
            page = await r.text()
            location = r.headers.get("Location")
        if location is not None:
            target = urljoin(url, location)
            if urlsplit(target).path in (SIGN_IN, "/authorize"):
                say(f"browser: {r.status} -> {urlsplit(target).path}")
                url = target
                continue
            return location
        if r.status != 200:
            raise ValueError(f"the AM answered {r.status}: {page[:200]}")
        form = _form_for(page, SIGN_IN, "/authorize")
        if urlsplit(form.action).path == SIGN_IN:
            say(f"browser: the sign-in page; {name} signs in")
            async with http.post(urljoin(url, form.action), allow_redirects=False,
                                 data=hidden(form) + [("name", name), ("password", password)]) as r:
                if r.status != 303:
                    raise ValueError(f"sign-in refused: {r.status}")
                url = urljoin(url, r.headers["Location"])
            continue
        offered = [i["value"] for i in form.inputs if i.get("type") == "checkbox" and i.get("name") == "approve_scope"]
        chosen = [s for s in offered if scopes is None or s in scopes]
        fields = hidden(form) + [("approve_scope", s) for s in chosen]
        fields += [(i["name"], i["value"]) for i in form.inputs
                   if i.get("type") == "checkbox" and i.get("name") == "ask_scope" and "checked" in i]
        fields.append(("decision", "deny" if deny else "approve"))
        say(f"browser: the dialog offers {', '.join(offered) or 'nothing'}; {name} "
            + ("denies" if deny else f"approves {', '.join(chosen) or 'nothing'}"))
        async with http.post(urljoin(url, form.action), data=fields, allow_redirects=False) as r:
            if r.status != 303:
                raise ValueError(f"the dialog refused the answer: {r.status}")
            return r.headers["Location"]
    raise ValueError("the authorization request did not settle")
