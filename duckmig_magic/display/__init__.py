"""Views of the engine's results for notebooks.

Each view is an ipywidgets view where a widget frontend runs (JupyterLab,
Notebook 7, VS Code, Colab: built-in widgets only, nothing to install in the
frontend), and renders as self-contained HTML and as plain text elsewhere
(nbconvert, GitHub, a terminal), through ``duckmig_magic.render``::

    from duckmig_magic import Migrator
    from duckmig_magic.display import StatusView

    StatusView(Migrator("metrics.db", "migrations"))

ipywidgets is imported only when a widget is built.
"""

from .preview_view import PreviewView
from .progress_view import ProgressView, run, shown
from .status_view import StatusView
from .view import NOTEBOOK_WORDS, View, viewed, widget_frontend

__all__ = ["StatusView", "PreviewView", "ProgressView", "View", "run", "shown", "viewed", "widget_frontend",
           "NOTEBOOK_WORDS"]
