"""Results as text for a terminal and as self-contained HTML for a notebook, one module a subject:
``status``, ``changes`` (a preview), ``progress``, ``results`` (the other verbs), sharing ``common``.

Text is safe to print: control characters and escape sequences in what the
database or the files hold are shown escaped, never sent to the terminal.
HTML escapes every value. Nothing here imports ipywidgets or pandas.
"""
