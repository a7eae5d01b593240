"""What every view shares: its MIME bundle, its widget and parts, and showing itself so it can update."""

from __future__ import annotations

from types import SimpleNamespace

from ..wording import Words

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

# How a notebook names what a user can do: the magics' verbs, and `%migrate connect` for the settings.
NOTEBOOK_WORDS = Words("%migrate", {
    "database": "the path given to `%migrate connect`", "directory": "`%migrate connect TARGET --dir DIR`",
    "table": "`%migrate connect TARGET --table TABLE`", "wait": "`%migrate connect TARGET --wait SECONDS`",
    "data_path": "`%migrate connect ducklake:... --data-path DIR`"})


def widget_frontend() -> bool:
    """True inside a Jupyter kernel, where a frontend may render widgets.

    A terminal IPython or a script has no kernel: widgets would print as
    ``VBox(...)`` there, so the views fall back to text.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class View:
    """Base of the views: subclasses give ``to_text()``, ``to_html()`` and ``_build(parts)``.

    The widget is built on first use, so a view that only ever renders as HTML
    or text (nbconvert, a terminal) never imports ipywidgets. Its widgets are
    ``view.parts``, apart from the data the view shows.
    """

    _widget = None
    _parts: SimpleNamespace  # set when the widget is built, never read before
    _handle = None

    @property
    def widget(self):
        """The ipywidgets view (built on first access)."""
        if self._widget is None:
            self._parts = SimpleNamespace()
            self._widget = self._build(self._parts)
            self._sync()
        return self._widget

    @property
    def parts(self) -> SimpleNamespace:
        """The widgets the view is made of, by name."""
        _ = self.widget  # read to build the widgets, which names them
        return self._parts

    def _build(self, parts: SimpleNamespace):
        raise NotImplementedError

    def _sync(self) -> None:
        """Bring the widgets in line with the data."""

    def to_text(self) -> str:
        raise NotImplementedError

    def to_html(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = {"text/plain": self.to_text(), "text/html": self.to_html()}
        if self._widget is not None or widget_frontend():
            view = self.widget._repr_mimebundle_().get(WIDGET_VIEW)
            if view:
                data[WIDGET_VIEW] = view
        return data

    def show(self):
        """Display the view so that later changes also update the saved output's HTML and text."""
        from IPython.display import display

        # Shown again (the same frame in another cell), it keeps its id: an update reaches every copy.
        self._handle = display(self, display_id=self._handle.display_id if self._handle else True)
        return self

    def _publish(self) -> None:
        # The widget updates itself; the HTML and text fallbacks kept in the
        # notebook file change only when the display is updated.
        if self._handle is not None:
            self._handle.update(self)


def viewed(frame, view):
    """``frame`` as a DataFrame that a notebook shows as ``view`` (its widget, HTML and text).

    It stays a DataFrame for everything else: what pandas derives from it is a
    plain DataFrame, it pickles as one, and once it is changed in place it shows
    as one again.
    """
    from .frame import ViewedFrame

    return ViewedFrame(frame, view)
