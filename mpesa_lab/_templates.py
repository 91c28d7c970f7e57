"""The one way HTML is made: Jinja2 templates in ``mpesa_lab/templates/``.

The report, the rich displays (and the widget pieces they share) and the workshop's pages are
templates here; Python computes the values, the templates lay them out. One environment for all of
them, made on first use so that importing the package (``import mpesa_lab.lab``, ``mpesa-lab
--help``) never imports jinja2. Autoescaping is always on and undefined names are errors: a value
reaches the page escaped unless the code marks it :class:`markupsafe.Markup` itself (HTML it built
from escaped parts: another template's output, or the title and rows a widget hands to
``display.card``). No template uses ``|safe``.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

_environment: jinja2.Environment | None = None
_lock = threading.Lock()


def environment() -> jinja2.Environment:
    """The package's Jinja2 environment (made once, on first use; safe from any thread)."""
    global _environment
    if _environment is None:
        with _lock:
            if _environment is None:
                import jinja2

                _environment = jinja2.Environment(
                    loader=jinja2.PackageLoader("mpesa_lab", "templates"),
                    autoescape=True,
                    undefined=jinja2.StrictUndefined,
                    trim_blocks=True,
                    lstrip_blocks=True,
                    keep_trailing_newline=True,
                    auto_reload=False,  # package data: never changes under a running process
                    finalize=_nothing_for_none,
                )
    return _environment


def _nothing_for_none(value: Any) -> Any:
    """``{{ None }}`` shows nothing (Jinja's default would print "None")."""
    return "" if value is None else value


def render(template_name: str, /, **context: Any) -> str:
    """``templates/<template_name>`` rendered with ``context`` (values escaped unless Markup)."""
    return environment().get_template(template_name).render(**context)


@functools.cache
def macro(template_name: str, name: str) -> Any:
    """The macro ``name`` of ``templates/<template_name>``, to call from Python (returns Markup).

    How the pieces the widgets reuse (a badge, a key/value card) have one source: the templates
    import the macro, the Python wrappers call it.
    """
    return getattr(environment().get_template(template_name).module, name)


def markup(text: str) -> Any:
    """``text`` marked as HTML the code built itself from escaped parts (never data)."""
    from markupsafe import Markup

    return Markup(text)
