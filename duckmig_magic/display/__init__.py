"""Views of the engine's results for notebooks.

Each view is an ipywidgets view where a widget frontend runs (JupyterLab,
Notebook 7, VS Code, Colab: built-in widgets only, nothing to install in the
frontend), and renders as self-contained HTML and as plain text elsewhere
(nbconvert, GitHub, a terminal)::

    from duckmig_magic import Migrator
    from duckmig_magic.display import StatusView

    StatusView(Migrator("metrics.db", "migrations"))

ipywidgets is imported only when a widget is built.
"""

from .preview import PreviewView
from .progress import ProgressView, run, shown, summary
from .status import StatusView
from .view import View, viewed, widget_frontend

__all__ = ["StatusView", "PreviewView", "ProgressView", "View", "run", "shown", "summary", "viewed",
           "widget_frontend"]
