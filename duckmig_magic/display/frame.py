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

    def _repr_mimebundle_(self, include=None, exclude=None):
        if self.view is None or (self.shape, tuple(self.columns)) != self.shown_as:
            return None  # changed since: pandas' own table
        return self.view._repr_mimebundle_(include, exclude)
