"""The templates' seam: one environment, autoescape, strict names, every template shipped."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mpesa_lab import _templates
from mpesa_lab.display import badge, card, pre, rows

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "mpesa_lab" / "templates"
HOSTILE = "<script>alert(1)</script> $x^$ <img src=x onerror=alert(1)>"


def test_every_template_compiles():
    names = _templates.environment().list_templates()
    assert {"display/parts.html", "report/page.html", "workshop/facilitator.html", "workshop/cards.html"} <= set(names)
    for name in names:
        _templates.environment().get_template(name)


def test_every_template_is_package_data():
    """A template the wheel leaves out is a page that fails only once installed."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["mpesa_lab"]
    package = ROOT / "mpesa_lab"
    shipped = {path for pattern in patterns for path in package.glob(pattern)}
    files = {path for path in TEMPLATES.rglob("*") if path.is_file()}
    assert files and files <= shipped, sorted(str(p.relative_to(package)) for p in files - shipped)


def test_values_are_escaped_and_html_the_code_built_is_not():
    shown = badge("failed", HOSTILE) + rows([(HOSTILE, "<i>kept</i>")]) + pre({"x": HOSTILE})
    assert "<script>" not in shown and "<img" not in shown and "&lt;script&gt;" in shown and "$x^$" in shown
    assert "<i>kept</i>" in shown  # rows() takes HTML the caller escaped
    assert card("<b>title</b>", "<p>body</p>").count("<b>title</b>") == 1
    assert _templates.environment().autoescape is True


def test_a_missing_value_is_an_error_not_an_empty_page():
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        _templates.render("workshop/facilitator.html")


def test_none_shows_as_nothing():
    """A missing value is left blank (as the f-strings' esc(None) did), never the word None."""
    from mpesa_lab.daraja.errors import DarajaError
    from mpesa_lab.display import error_html

    shown = error_html(DarajaError(error_code=None, error_message="no code given"))
    assert "no code given" in shown and "None" not in shown
