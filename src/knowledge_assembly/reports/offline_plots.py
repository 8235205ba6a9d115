"""An HTML template for ``dvc plots show`` / ``dvc plots diff`` that needs no network: DVC's own page loads
Vega from a CDN, this one carries Vega, Vega-Lite and Vega-Embed inline, bundled from the installed
``vl-convert-python`` package, and draws with the SVG renderer (so a page's curves are elements of its DOM).

    python -m knowledge_assembly.reports.offline_plots dvc_plots/offline_template.html
    dvc plots show --html-template dvc_plots/offline_template.html -o dvc_plots
"""

from __future__ import annotations

import sys
from pathlib import Path

import vl_convert

from knowledge_assembly.files import atomic_write

# DVC's page calls the global vegaEmbed(element, spec); the bundle defines it, drawing SVG without action menus.
EMBED_SNIPPET = (
    "window.vegaEmbed = (element, spec, options) => "
    'vegaEmbed(element, spec, {renderer: "svg", actions: false, ...(options || {})});'
)

PAGE = """<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  {{refresh_tag}}
  <title>knowledge-assembly: DVC plots</title>
  <script type="text/javascript">{bundle}</script>
  <style>
    body {{ font-family: sans-serif; margin: 1em; }}
    table {{ border-spacing: 15px; }}
    img {{ max-width: 100%; }}
  </style>
</head>
<body>
  {{plot_divs}}
</body>
</html>
"""


def offline_template() -> str:
    """The page: DVC fills ``{plot_divs}`` (and ``{refresh_tag}``); it has no ``{scripts}``, so DVC's CDN
    script tags are never written."""
    bundle = vl_convert.javascript_bundle(EMBED_SNIPPET).replace("</script", "<\\/script")
    return PAGE.format(bundle=bundle)


def write_offline_template(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as out:
        out.write(offline_template().encode("utf-8"))
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m knowledge_assembly.reports.offline_plots TEMPLATE.html", file=sys.stderr)
        return 2
    print(write_offline_template(Path(args[0])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
