"""Sphinx configuration of the course site (`make site`); runner/course_site.py copies it next to the sources.

MyST-NB renders each notebook with the outputs it has (the course run's), and never executes one. Everything the
pages load is on disk: the theme's own assets, and Mermaid from tests/mermaid (sphinxcontrib-mermaid would
otherwise load it from a CDN).
"""

project = "Letta API, hands-on"
html_title = "Letta API, hands-on: the course as it ran"
extensions = ["myst_nb", "sphinxcontrib.mermaid"]
exclude_patterns = ["_build", "**.turns.jsonl"]

nb_execution_mode = "off"  # the outputs are the course run's, from the real stack
nb_ipywidgets_js = {}  # no widget manager from a CDN: the run was headless, so widgets printed text
root_doc = "README"  # the landing page keeps the README's name, so the lessons' links to it resolve
myst_fence_as_directive = ["mermaid"]  # ```mermaid fences become diagrams, in lessons' markdown
nb_render_markdown_format = "myst"  # and in Markdown outputs (helpers.show_rules)
myst_heading_anchors = 3

mermaid_use_local = "mermaid/mermaid.esm.min.mjs"  # relative to _static/
mermaid_fullscreen = False
mermaid_height = "auto"  # not a fixed 500 px box around a one-line diagram

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "navigation_with_keys": True,
}
html_show_sourcelink = False
html_copy_source = False  # the notebooks are in the repository; the site holds their pages
