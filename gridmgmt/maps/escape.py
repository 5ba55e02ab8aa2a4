"""The one escape helper of gridmgmt pages: text, colours and JSON made safe for HTML and folium's scripts.

folium inserts popup HTML, tooltip text, GeoJSON tooltip values and layer names into the page
raw (some inside JavaScript template literals), so a shop named ``<img src=x onerror=...>`` or
``${...}`` would run script. Every text a person typed goes through :func:`esc`.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence

import pandas as pd

from gridmgmt._errors import GridMgmtError
from gridmgmt.text import text_or_blank

_JS_TEMPLATE_CHARS = str.maketrans(
    {"`": "&#96;", "$": "&#36;", "\\": "&#92;", "{": "&#123;", "}": "&#125;", ":": "&#58;"}
)
#: a brace opening a Jinja2 tag: branca compiles each map element's rendered script as a template again
_JINJA_OPEN_RE = re.compile(r"\{(?=[{%#])")


def esc(text: object, *, blank: str = "") -> str:
    """Escape any value for HTML text or attributes, and for folium's JS template literals.

    Besides ``& < > " '`` this escapes `` ` ``, ``$`` and ``\\`` as character references,
    because folium puts popup and tooltip HTML inside JavaScript template literals, where
    ``${...}`` would run and a backslash could break the script; and ``{ }``, because branca
    compiles every element's rendered script as a Jinja2 template again, where a name holding
    ``{{ ... }}`` would run on the server (``{% raw %}`` broke the page); and ``:``, so a name
    holding ``http://...`` is not taken for a reference to another host. Browsers show the escaped
    text exactly as typed. A missing value (None, NaN, NA, NaT) becomes ``blank`` (escaped too),
    as :func:`gridmgmt.text.text_or_blank` writes it.
    """
    return html.escape(text_or_blank(text, blank=blank), quote=True).translate(_JS_TEMPLATE_CHARS)


_COLOR_RE = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}|rgba?\([0-9., %]+\)|hsla?\([0-9., %deg]+\))$")


def check_color(color: str) -> str:
    """Return ``color`` if it is a plain CSS colour (hex, name, rgb(), hsl()); else raise.

    Colours go into ``style`` attributes, so anything else could inject markup.
    """
    if not isinstance(color, str) or not _COLOR_RE.match(color.strip()):
        raise GridMgmtError(f"not a CSS colour: {color!r}; use e.g. '#d62728', 'red' or 'rgb(214,39,40)'")
    return color.strip()


def js_json(obj: object) -> str:
    """JSON safe to embed in a <script>: no '<', '>' that could close the element, no Jinja2 tag.

    A ``{`` followed by ``{``, ``%`` or ``#`` can only be inside a JSON string (an object's brace
    is followed by a quote or ``}``), so it is written ``\\u007b`` there: branca renders a map
    element's script as a template again.
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = _JINJA_OPEN_RE.sub(r"\\u007b", text)
    return (
        text.replace("<", "\\u003c").replace(">", "\\u003e").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    )


def popup_html(title: object | None, fields: Mapping[str, object]) -> str:
    """Escaped popup HTML: a bold title and a two-column table of label -> value."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in fields.items())
    head = f"<b>{esc(title)}</b>" if title is not None else ""
    return f'<div class="gm-popup">{head}<table>{rows}</table></div>'


def escape_frame(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A copy with text columns escaped by :func:`esc` (numbers and geometry untouched).

    Use before handing a frame to ``folium.GeoJson`` with ``GeoJsonTooltip``/``GeoJsonPopup``:
    folium inserts property values into the page as HTML.
    """
    out = frame.copy()
    geometry = getattr(frame, "_geometry_column_name", None)
    for column in columns if columns is not None else list(out.columns):
        if column == geometry:
            continue
        series = out[column]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        out[column] = series.map(esc).astype(object)
    return out
