"""A DataFrame that displays as a view: what ``%migrate status`` returns."""

from __future__ import annotations

import pandas as pd


class ViewedFrame(pd.DataFrame):
    _metadata = ["view", "shown_as"]

    def __init__(self, frame, view=None):
        super().__init__(frame)
        self.view = view
        self.shown_as = (self.shape, tuple(self.columns))

    @property
    def _constructor(self):
        return pd.DataFrame

    def __reduce__(self):
        return pd.DataFrame(self).__reduce__()

    def _shows_view(self) -> bool:
        return self.view is not None and (self.shape, tuple(self.columns)) == self.shown_as

    def _repr_mimebundle_(self, include=None, exclude=None):
        if not self._shows_view():
            return None  # changed since: pandas' own table
        return self.view._repr_mimebundle_(include, exclude)

    def _ipython_display_(self):
        """Shown by IPython as the view, under a display id, so that what its buttons do later also
        updates the output a saved notebook keeps (its HTML and text)."""
        from IPython.display import display

        if self._shows_view():
            self.view.show()
        else:
            display(pd.DataFrame(self))
