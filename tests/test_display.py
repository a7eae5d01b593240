"""The notebook views: widget state, the HTML fallback (parsed) and the text rendering."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from datetime import datetime
from html.parser import HTMLParser

import duckdb
import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duckmig_magic import errors
from duckmig_magic.display import PreviewView, ProgressView, StatusView, run
from duckmig_magic.engine import MigrationStatus, StatusReport
from duckmig_magic.render import changes, status
from duckmig_magic.render.common import MONO, cell, duration, html_table, text_table
from duckmig_magic.render.progress import summary
from conftest import STATE

V1, V2, V3, V4, V5, V6, V7 = (f"2025010{i}_000000" for i in range(1, 8))
EVIL = "<script>alert(1)</script>"
# What the fallback may contain: no script, no event handler, no link.
ALLOWED_TAGS = {"div", "span", "code", "pre", "table", "thead", "tbody", "tr", "th", "td", "details", "summary"}
ALLOWED_ATTRIBUTES = {"style", "colspan", "rowspan"}
BLOCKS = {"div", "pre", "table", "tr", "td", "th"}


class Page(HTMLParser):
    """An HTML fragment taken apart: its tags, table rows (cell texts), badges and text."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.head: list[list[str]] = []
        self.rows: list[list[str]] = []
        self.badges: list[tuple[str, str]] = []  # (label, background colour)
        self.chunks: list[str] = []
        self._row = self._cell = self._badge = None
        self._in_head = False
        self.feed(markup)
        self.close()

    @property
    def text(self) -> str:
        return " ".join("".join(self.chunks).split())

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag in BLOCKS:
            self.chunks.append(" ")
        if tag == "thead":
            self._in_head = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "span" and "border-radius:9px" in attrs.get("style", ""):
            self._badge = ([], re.search(r"background:(#[0-9a-f]{6})", attrs["style"])[1])

    def handle_endtag(self, tag):
        if tag in BLOCKS:
            self.chunks.append(" ")
        if tag == "thead":
            self._in_head = False
        elif tag in ("td", "th"):
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            (self.head if self._in_head else self.rows).append(self._row)
        elif tag == "span" and self._badge is not None:
            self.badges.append(("".join(self._badge[0]), self._badge[1]))
            self._badge = None

    def handle_data(self, data):
        self.chunks.append(data)
        for part in (self._cell, self._badge[0] if self._badge else None):
            if part is not None:
                part.append(data)


def assert_safe(markup: str) -> Page:
    page = Page(markup)
    assert {t for t, _ in page.tags} <= ALLOWED_TAGS
    assert {a for _, attrs in page.tags for a in attrs} <= ALLOWED_ATTRIBUTES
    return page


def report_of(*migrations, database="app.db", directory="migrations/versions") -> StatusReport:
    return StatusReport(database, directory, list(migrations))


FIXED = report_of(
    MigrationStatus(V1, "create metrics", "sql", "applied", datetime(2025, 1, 1, 12, 0, 0), 12.34),
    MigrationStatus(V2, "add tags", "python", "failed", datetime(2025, 1, 2, 8, 30, 0), 3.0,
                    error="Catalog Error: Table with name x does not exist!",
                    statement="ALTER TABLE x ADD COLUMN tags VARCHAR"),
    MigrationStatus(V3, "slow backfill", "sql", "pending"),
)


def states(page: Page) -> list[tuple[str, str]]:
    """(version, state label) of each table row."""
    return [(row[0], row[3]) for row in page.rows]


# -- the HTML fallback --------------------------------------------------------------


def test_status_html_has_header_rows_and_error_of_a_failed_migration():
    page = assert_safe(StatusView(None, report=FIXED).to_html())
    assert page.head == [["version", "description", "kind", "state", "applied at (UTC)", "execution time"]]
    assert page.rows == [
        [V1, "create metrics", "sql", "applied", "2025-01-01 12:00:00", "12.3 ms"],
        [V2, "add tags", "python", "failed", "2025-01-02 08:30:00", "3.0 ms"],
        [V3, "slow backfill", "sql", "pending", "", ""],
    ]
    assert page.text.startswith(
        "database app.db directory migrations/versions 3 migrations: 1 applied 1 pending 1 failed "
        f"failed {V2} add tags Catalog Error: Table with name x does not exist! "
        "statement: ALTER TABLE x ADD COLUMN tags VARCHAR version description")


@pytest.mark.parametrize("state, label, colour", [
    ("applied", "applied", "#1a7f37"),
    ("pending", "pending", "#57606a"),
    ("failed", "failed", "#cf222e"),
    ("modified", "modified", "#bc4c00"),
    ("missing", "missing", "#8250df"),
    ("out_of_order", "out of order", "#9a6700"),
])
def test_status_html_gives_each_state_its_colour_and_label(state, label, colour):
    page = Page(status.html(report_of(MigrationStatus(V1, "one", "sql", state))))
    assert states(page) == [(V1, label)]
    # the header's count, then the row (a failed migration's error block has one too)
    assert (page.badges[0], page.badges[-1]) == ((f"1 {label}", colour), (label, colour))


def test_status_text_is_the_terminal_table():
    view = StatusView(None, report=FIXED)
    assert repr(view) == view.to_text() == textwrap.dedent(f"""\
        database:  app.db
        directory: migrations/versions

        VERSION          STATE    KIND    APPLIED AT (UTC)     MS    DESCRIPTION
        {V1}  applied  sql     2025-01-01 12:00:00  12.3  create metrics
        {V2}  FAILED   python  2025-01-02 08:30:00  3.0   add tags
        {V3}  pending  sql                                slow backfill

        {V2} failed: Catalog Error: Table with name x does not exist!
          statement: ALTER TABLE x ADD COLUMN tags VARCHAR

        1 applied, 1 pending, 1 failed""")


def test_every_state_from_a_real_ledger(project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;")
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    project.sql(V3, "three", "CREATE TABLE three (x INTEGER);", "DROP TABLE three;")
    project.sql(V5, "five", "CREATE TABLE five (x INTEGER);", "DROP TABLE five;")
    project.sql(V6, "six", "INSERT INTO nowhere VALUES (1);")
    project.sql(V7, "seven", "CREATE TABLE seven (x INTEGER);")
    with pytest.raises(errors.MigrationFailed):
        project.migrator().up()
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER, y INTEGER);", "DROP TABLE two;")
    next(project.versions.glob(f"{V3}_*")).unlink()
    project.sql(V4, "four", "CREATE TABLE four (x INTEGER);")

    page = assert_safe(StatusView(project.migrator()).to_html())
    assert states(page) == [(V1, "applied"), (V2, "modified"), (V3, "missing"), (V4, "out of order"),
                            (V5, "applied"), (V6, "failed"), (V7, "pending")]
    assert [row[2] for row in page.rows] == ["sql"] * 7
    assert page.badges[:6] == [("2 applied", "#1a7f37"), ("1 pending", "#57606a"), ("1 failed", "#cf222e"),
                               ("1 modified", "#bc4c00"), ("1 missing", "#8250df"), ("1 out of order", "#9a6700")]
    assert "Catalog Error: Table with name nowhere does not exist!" in page.text
    assert "statement: INSERT INTO nowhere VALUES (1)" in page.text


@pytest.mark.parametrize("case", ["no files", "ledger without rows"])
def test_empty(project, case):
    if case == "ledger without rows":
        project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;")
        project.migrator().up()
        project.migrator().down()
        next(project.versions.glob(f"{V1}_*")).unlink()
    view = StatusView(project.migrator())
    page = assert_safe(view.to_html())
    assert page.rows == [] and page.head == []
    assert page.text == (f"database {project.db} directory {project.versions} no migrations yet: write one in a "
                         "%%migration SLUG cell, or run %migrate new DESCRIPTION")
    view.widget
    p = view.parts
    assert (p.up_button.disabled, p.down_button.disabled, p.refresh_button.disabled) == (True, True, False)
    assert (p.table.value, p.state_filter.layout.display, p.pager.layout.display) == ("", "none", "none")


def test_all_pending_in_a_new_database(project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);")
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER);")
    page = Page(StatusView(project.migrator()).to_html())
    assert states(page) == [(V1, "pending"), (V2, "pending")]
    assert not project.db.exists()  # showing the status created nothing


# -- escaping --------------------------------------------------------------------------


def test_description_error_and_statement_are_escaped(project):
    project.write(f"{V1}_evil.sql", f"-- description: {EVIL}\n-- migrate:up\nCREATE TABLE t (x INTEGER);\n")
    project.write(f"{V2}_evil_data.sql", f"-- migrate:up\nSELECT '{EVIL}'::INTEGER;\n")
    m = project.migrator()
    with pytest.raises(errors.MigrationFailed):
        m.up()
    view = StatusView(m)
    page = assert_safe(view.to_html())
    assert page.rows[0][1] == EVIL
    assert f"Conversion Error: Could not convert string '{EVIL}' to INT32" in page.text
    assert f"statement: SELECT '{EVIL}'::INTEGER" in page.text
    view.widget
    for markup in (view.parts.header.value, view.parts.errors.value, view.parts.table.value):
        assert_safe(markup)
    view.parts.up_button.click()  # V2 has no downgrade, and fails in the preview: asked first
    assert_safe(view.parts.message.value)
    view.parts.up_button.click()  # fails again: its error shows once, as text, with the failed migrations
    message = assert_safe(view.parts.message.value)
    assert message.text.startswith(f"up stopped: {V2} failed (its error is shown above)")
    assert f"Conversion Error: Could not convert string '{EVIL}'" in assert_safe(view.parts.errors.value).text


def test_paths_are_escaped(tmp_path):
    from duckmig_magic import Migrator

    folder = tmp_path / "<img src=x onerror=alert(1)>"
    (folder / "migrations" / "versions").mkdir(parents=True)
    page = assert_safe(StatusView(Migrator(str(folder / "app.db"), str(folder / "migrations"))).to_html())
    assert f"database {folder / 'app.db'} directory {folder / 'migrations' / 'versions'}" in page.text


@pytest.mark.parametrize("value", [EVIL, "a & b", '"quoted" \'single\'', "<b>bold</b>", "x < y > z"])
def test_html_text_round_trips_through_a_parser(value):
    page = assert_safe(html_table(["h"], [[value]]))
    assert page.rows == [[" ".join(value.split())]]


# Cells that come near each rule of ``cell``: spaces at the edges and doubled, the separator the
# whole-row check joins with, controls, non-ASCII and wide characters, lengths about the width.
_CELLS = st.one_of(st.text(alphabet=st.sampled_from("ab |\x1b\u202e\u00e9\u4e2d\t\n"), max_size=12),
                   st.text(alphabet="ab", min_size=9, max_size=11), st.none(), st.integers(-5, 5))


@given(st.lists(st.lists(_CELLS, min_size=3, max_size=3), max_size=4))
@settings(max_examples=300, deadline=None)
def test_a_text_table_lays_out_each_cell_as_cell_makes_it(rows):
    """The table checks whole rows at once, as status's 10,000 rows need: what it lays out is still each
    cell as ``cell`` makes it, padded to its column."""
    table = text_table(["A", "B", "C"], rows, max_width=10)
    expected = text_table(["A", "B", "C"], [[cell(v, 10) for v in row] for row in rows], max_width=10)
    assert table == expected
    for line, row in zip(table.split("\n")[1:], rows, strict=True):
        for value in row:
            assert cell(value, 10) in line


# -- many migrations -------------------------------------------------------------------


def many(states: str) -> list[MigrationStatus]:
    code = {"A": "applied", "P": "pending", "F": "failed", "M": "modified"}
    return [MigrationStatus(f"{20200101 + i // 100:08d}_{i % 100:06d}", f"m{i}", "sql", code[s])
            for i, s in enumerate(states)]


def folded(states: str, max_rows: int) -> str:
    return " ".join(str(x) if isinstance(x, int) else x.state[0].upper() for x in status.fold(many(states), max_rows))


@pytest.mark.parametrize("states, max_rows, expected", [
    ("AAA", 3, "A A A"),
    ("AAAA", 3, "1 A A A"),
    ("AAAAP", 3, "2 A A P"),
    ("PAAAA", 3, "P 2 A A"),
    ("AFAAAAP", 3, "1 F 3 A P"),
    ("PPPPA", 3, "P P P 2"),
    ("", 3, ""),
    ("AMAAAAAAAA", 4, "1 M 5 A A A"),
])
def test_fold_keeps_what_needs_attention_then_the_newest(states, max_rows, expected):
    assert folded(states, max_rows) == expected


def test_two_thousand_migrations_fold_to_fifty_rows():
    report = report_of(*many("A" * 1000 + "F" + "A" * 996 + "PPP"))
    page = assert_safe(status.html(report))
    assert len(page.rows) == 52
    assert page.rows[0] == ["⋯ 1,000 more migrations not shown"]
    assert page.rows[1][:4] == ["20200111_000000", "m1000", "sql", "failed"]
    assert page.rows[2] == ["⋯ 950 more migrations not shown"]
    assert [row[3] for row in page.rows[3:]] == ["applied"] * 46 + ["pending"] * 3
    assert page.rows[3][0] == "20200120_000051"
    assert "2,000 migrations: 1,996 applied 3 pending 1 failed" in page.text


def test_widget_pages_through_many_migrations_and_filters_by_state(project):
    report = report_of(*many("A" * 60 + "P" + "A" * 58 + "P"))
    view = StatusView(project.migrator(), report=report)
    view.widget
    assert view.parts.pager.layout.display is None
    assert (view.parts.page_label.value, view.parts.prev_button.disabled, view.parts.next_button.disabled) == (
        "51–100 of 120", False, False)
    assert states(Page(view.parts.table.value))[10] == ("20200101_000060", "pending")
    view.parts.next_button.click()
    assert (view.parts.page_label.value, view.parts.next_button.disabled) == ("101–120 of 120", True)
    view.parts.prev_button.click()
    view.parts.prev_button.click()
    assert (view.parts.page_label.value, view.parts.prev_button.disabled) == ("1–50 of 120", True)
    assert view.parts.state_filter.options == (("all (120)", "all"), ("applied (118)", "applied"),
                                         ("pending (2)", "pending"))
    view.parts.state_filter.value = "pending"
    assert states(Page(view.parts.table.value)) == [("20200101_000060", "pending"), ("20200102_000019", "pending")]
    assert (view.parts.page_label.value, view.parts.pager.layout.display) == ("1–2 of 2", "none")


# -- the widget and its buttons ---------------------------------------------------------


@pytest.fixture
def two(project):
    project.sql(V1, "create_one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;")
    project.sql(V2, "create_two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    return project


def applied(project) -> list[str]:
    return [v for (v,) in project.query(f"SELECT version FROM {STATE} WHERE status = 'applied' ORDER BY 1")]


def test_widget_children_and_initial_state(two):
    import ipywidgets as w

    view = StatusView(two.migrator())
    box = view.widget
    assert isinstance(box, w.VBox)
    p = view.parts
    assert box.children == (p.header, p.errors, p.toolbar, view.progress.widget, p.message, p.table, p.pager)
    assert p.toolbar.children == (p.up_button, p.cancel_button, p.down_button, p.refresh_button, p.state_filter)
    assert p.cancel_button.layout.display == "none"  # shown only while "up" asks to confirm
    assert [(b.description, b.disabled, b.tooltip) for b in (p.up_button, p.down_button, p.refresh_button)] == [
        ("up", False, "apply 2 pending migrations"),
        ("down one step", True, "nothing to revert"),
        ("refresh", False, None),
    ]
    assert Page(view.parts.header.value).text == f"database {two.db} directory {two.versions} 2 migrations: 2 pending"
    assert states(Page(view.parts.table.value)) == [(V1, "pending"), (V2, "pending")]
    assert (view.progress.widget.layout.display, p.pager.layout.display, p.errors.value) == ("none", "none", "")


def test_up_button_applies_shows_progress_and_redraws(two):
    view = StatusView(two.migrator())
    view.widget
    seen = []
    view.progress.parts.label.observe(
        lambda change: seen.append((change["new"], view.progress.parts.bar.value, view.progress.parts.bar.max,
                                    view.parts.up_button.disabled, view.parts.down_button.disabled,
                                    view.parts.refresh_button.disabled, view.progress.widget.layout.display)), "value")
    view.parts.up_button.click()
    assert seen[:2] == [
        (f"applying 1/2: {V1} create one", 0, 2, True, True, True, None),
        (f"applying 2/2: {V2} create two", 1, 2, True, True, True, None),
    ]
    assert re.fullmatch(r"applied 2 migrations in \d+\.\d ms", seen[2][0]) and seen[2][1:3] == (2, 2)
    assert applied(two) == [V1, V2]
    assert states(Page(view.parts.table.value)) == [(V1, "applied"), (V2, "applied")]
    assert re.fullmatch(r"applied 2 migrations in \d+\.\d ms", view.parts.message.value)
    p = view.parts
    assert (p.up_button.disabled, p.down_button.disabled, p.refresh_button.disabled) == (True, False, False)
    assert view.parts.down_button.tooltip == f"revert {V2} create two"
    assert (view.progress.widget.layout.display, view.progress.parts.bar.bar_style) == ("none", "success")
    assert two.migrator().progress is None and view.migrator.progress is None  # the callback was taken back


def test_down_button_reverts_one_step(two):
    two.migrator().up()
    view = StatusView(two.migrator())
    view.widget
    view.parts.down_button.click()
    assert applied(two) == [V1]
    assert states(Page(view.parts.table.value)) == [(V1, "applied"), (V2, "pending")]
    assert re.fullmatch(r"reverted 1 migration in \d+\.\d ms", view.parts.message.value)
    assert view.parts.up_button.tooltip == "apply 1 pending migration"
    assert view.parts.down_button.tooltip == f"revert {V1} create one"
    view.parts.down_button.click()
    assert applied(two) == []
    assert (view.parts.up_button.disabled, view.parts.down_button.disabled) == (False, True)


def test_refresh_button_reads_what_another_process_did(two):
    view = StatusView(two.migrator())
    view.widget
    subprocess.run([sys.executable, "-m", "duckmig_magic", "--database", str(two.db), "--dir",
                    str(two.directory), "up", V1], check=True, capture_output=True)
    assert states(Page(view.parts.table.value)) == [(V1, "pending"), (V2, "pending")]
    view.parts.refresh_button.click()
    assert states(Page(view.parts.table.value)) == [(V1, "applied"), (V2, "pending")]


def test_failing_migration_shows_its_error_and_enables_the_buttons_again(two):
    two.sql(V3, "broken", "CREATE TABLE three (x INTEGER);\nINSERT INTO three VALUES ('nope');")
    view = StatusView(two.migrator())
    view.widget
    view.parts.up_button.click()  # asks first: V3 fails in the preview, and has no downgrade
    assert not two.db.exists()
    view.parts.up_button.click()
    assert applied(two) == [V1, V2]
    assert states(Page(view.parts.table.value)) == [(V1, "applied"), (V2, "applied"), (V3, "failed")]
    message = Page(view.parts.message.value).text  # the error is said once, above, with the failed ones
    assert message == (f"up stopped: {V3} failed (its error is shown above) applied before it, and kept: {V1}, "
                       f"{V2} hint: fix the migration and run it again")
    error = Page(view.parts.errors.value).text
    assert error.startswith(f"failed {V3} broken Conversion Error: Could not convert string 'nope' to INT32")
    assert error.endswith("statement: INSERT INTO three VALUES ('nope')")
    p = view.parts
    assert (p.up_button.disabled, p.down_button.disabled, p.refresh_button.disabled) == (False, False, False)
    assert (view.progress.parts.bar.bar_style, view.progress.label) == (
        "danger", f"applied 2 migrations, then failed at {V3}: the error is below")


def test_an_error_before_any_migration_runs_is_shown_not_raised(two):
    two.migrator().up()
    two.sql("20250101_120000", "late", "CREATE TABLE late (x INTEGER);")
    view = StatusView(two.migrator())
    view.widget
    view.parts.up_button.click()
    assert Page(view.parts.message.value).text == (
        f"pending 20250101_120000 older than the newest applied migration {V2} "
        "hint: apply them anyway with --out-of-order, or give them newer versions")
    assert applied(two) == [V1, V2]
    assert view.progress.widget.layout.display == "none"


def test_an_error_from_duckdb_itself_is_shown_too(two):
    import duckdb

    from duckmig_magic import Migrator

    conn = duckdb.connect(str(two.db))
    view = StatusView(Migrator(conn, str(two.directory)))
    view.widget
    conn.close()
    view.parts.up_button.click()
    assert Page(view.parts.message.value).text == (
        f"the connection to {two.db} is closed hint: open it again and give duckmig the new connection (in a "
        "notebook: %migrate connect VARIABLE), or the database's path")
    assert states(Page(view.parts.table.value)) == [(V1, "pending"), (V2, "pending")]  # the last status read
    assert (view.parts.up_button.disabled, view.parts.refresh_button.disabled) == (False, False)


def test_a_click_while_busy_does_nothing(two):
    view = StatusView(two.migrator())
    view.widget
    view.busy = True
    view.parts.up_button.click()
    assert not two.db.exists()


# -- mime bundle ----------------------------------------------------------------------------


def test_mimebundle_without_a_kernel_is_html_and_text(two):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    view = StatusView(two.migrator())
    data, _ = shell.display_formatter.format(view)
    assert set(data) == {"text/plain", "text/html"}
    assert data["text/plain"] == view.to_text()
    assert states(Page(data["text/html"])) == [(V1, "pending"), (V2, "pending")]


def test_mimebundle_of_a_built_widget_names_its_model(two):
    view = StatusView(two.migrator())
    view.widget
    data = view._repr_mimebundle_()
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == view.widget.model_id
    assert data["text/plain"] == view.to_text() and "<table" in data["text/html"]


# -- progress ---------------------------------------------------------------------------------


def test_progress_view_as_the_migrator_callback(two):
    view = ProgressView("up")
    view.widget
    labels = []
    bar = view.parts.bar
    view.parts.label.observe(lambda change: labels.append((change["new"], bar.value, bar.max)), "value")
    results = run(two.migrator(), "up", progress=view)
    assert labels[:2] == [(f"applying 1/2: {V1} create one", 0, 2), (f"applying 2/2: {V2} create two", 1, 2)]
    assert labels[2] == (f"applied 2 migrations in {duration(sum(r.execution_ms for r in results))}", 2, 2)
    assert (view.state, view.parts.bar.bar_style, view.to_text()) == ("done", "success", labels[2][0])
    page = assert_safe(view.to_html())
    assert page.text == labels[2][0]
    assert "width:100%" in view.to_html()


def test_progress_view_ends_with_the_failed_migration(two):
    two.sql(V3, "broken", "INSERT INTO nowhere VALUES (1);")
    view = ProgressView()
    view.widget
    with pytest.raises(errors.MigrationFailed):
        run(two.migrator(), "up", progress=view)
    assert view.state == "failed" and view.parts.bar.bar_style == "danger"
    assert view.label == f"applied 2 migrations, then failed at {V3}: the error is below"  # said once, there
    assert (view.parts.bar.value, view.parts.bar.max) == (2, 3)
    assert "width:67%" in view.to_html()


def test_progress_renders_without_building_a_widget():
    view = ProgressView("down")
    view("start", 1, 4, MigrationStatus(V1, "one", "sql", "applied"), None)
    assert (view.to_text(), view._widget) == (f"[0/4] reverting 1/4: {V1} one", None)
    assert "width:0%" in view.to_html()


def test_text_progress_outside_a_notebook(two, capsys):
    two.sql(V3, "broken", "INSERT INTO nowhere VALUES (1);")
    with pytest.raises(errors.MigrationFailed):
        run(two.migrator(), "up")
    out = capsys.readouterr().out
    assert re.fullmatch(rf"\[1/3\] applying {V1} create one \.\.\. ok \(\d+\.\d ms\)\n"
                        rf"\[2/3\] applying {V2} create two \.\.\. ok \(\d+\.\d ms\)\n"
                        rf"\[3/3\] applying {V3} broken \.\.\. failed\n", out)


@pytest.mark.parametrize("verb, n, expected", [
    ("up", 0, "nothing to apply"),
    ("down", 0, "nothing to revert"),
    ("up", 1, "applied 1 migration in 1.5 ms"),
    ("down", 3, "reverted 3 migrations in 4.5 ms"),
    ("up", 1000, "applied 1,000 migrations in 1.50 s"),
])
def test_summary(verb, n, expected):
    from duckmig_magic.engine import StepResult

    assert summary(verb, [StepResult(V1, "", verb, 1.5, 1)] * n) == expected


# -- in a real kernel -------------------------------------------------------------------------------


def test_executed_notebook_keeps_widget_html_and_text_and_converts_to_tables(two):
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in (
        "%load_ext duckmig_magic\n%migrate connect app.db --dir migrations",
        "%migrate status",
        "%migrate up",
        "%migrate up",
        "%migrate down base",
        "%migrate preview",
        "%%migration three --preview --apply\n-- migrate:up\nCREATE TABLE three (x INTEGER);",
    )])
    NotebookClient(nb, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(two.root)}}).execute()
    status, = nb.cells[1].outputs
    bar, = nb.cells[2].outputs  # the bar ends with the summary: it is not printed a second time
    for output in (status, bar):
        assert set(output.data) == {"text/plain", "text/html", "application/vnd.jupyter.widget-view+json"}
    assert states(Page(status.data["text/html"])) == [(V1, "pending"), (V2, "pending")]
    assert status.data["text/plain"].startswith("database:  app.db\n")
    # the bar's saved HTML and text were updated to the summary when the run ended
    assert re.fullmatch(r"applied 2 migrations in \d+\.\d ms", bar.data["text/plain"])
    assert Page(bar.data["text/html"]).text == bar.data["text/plain"]
    printed, = nb.cells[3].outputs  # nothing ran, so no bar was shown: the summary is printed
    assert (printed.name, printed.text) == ("stdout", "nothing to apply\n")
    bar, = nb.cells[4].outputs
    assert re.fullmatch(r"reverted 2 migrations in \d+\.\d ms", bar.data["text/plain"])
    preview, = nb.cells[5].outputs
    assert set(preview.data) == {"text/plain", "text/html", "application/vnd.jupyter.widget-view+json"}
    assert preview.data["text/plain"].startswith(f"preview of {V1}, {V2} (rolled back: the database is unchanged)")
    assert Page(preview.data["text/html"]).text.startswith(f"preview of {V1}, {V2} — nothing was applied")
    assert two.query("SELECT version, event FROM duckdb_migrations WHERE seq <= 4 ORDER BY seq") == [
        (V1, "applied"), (V2, "applied"), (V2, "reverted"), (V1, "reverted")]
    # a cell's preview, then the bar of its apply: each shown once, the widget with its fallbacks
    # stdout may arrive in more than one stream message when the kernel flushes mid-cell
    streams = [o for o in nb.cells[6].outputs if o.output_type == "stream"]
    preview, bar = [o for o in nb.cells[6].outputs if o.output_type != "stream"]
    (three,) = [p.name[:15] for p in two.versions.glob("*_three.sql")]
    assert {o.name for o in streams} == {"stdout"}
    assert "".join(o.text for o in streams) == (f"created: migrations/versions/{three}_three.sql (version {three})\n"
                            f"{three} has no downgrade. One proposed from this preview would also undo {V1}, "
                            f"{V2}, pending before it, so none is shown: `%migrate up {V2}`, then run this cell "
                            "again\n")
    assert preview.output_type == bar.output_type == "display_data"
    assert set(preview.data) == set(bar.data) == {"text/plain", "text/html",
                                                  "application/vnd.jupyter.widget-view+json"}
    assert preview.data["text/plain"].startswith(f"preview of {V1}, {V2}, {three} (rolled back")
    assert re.fullmatch(r"applied 3 migrations in \d+\.\d+ ms", bar.data["text/plain"])
    assert applied(two) == [V1, V2, three]

    # Without the widget state (GitHub, nbviewer, a notebook saved without it) nbconvert shows the HTML.
    del nb.metadata["widgets"]
    body, _ = HTMLExporter().from_notebook_node(nb)
    assert "VBox(" not in body and "IntProgress(" not in body
    assert body.count(f"<code style=\"{MONO}\">{V1}</code>") == 1
    assert bar.data["text/plain"] in body


def test_migrate_status_is_a_dataframe_that_shows_as_the_dashboard(two, monkeypatch):
    import pandas as pd
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from traitlets.config import Config

    monkeypatch.chdir(two.root)
    InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    try:
        shell.run_line_magic("load_ext", "duckmig_magic")
        shell.run_line_magic("migrate", "connect app.db")
        frame = shell.run_line_magic("migrate", "status")
        assert isinstance(frame, pd.DataFrame) and frame["state"].tolist() == ["pending", "pending"]
        with capture_output() as shown:  # it displays itself, under a display id its buttons update
            assert shell.display_formatter.format(frame) == ({}, {})
        (output,) = shown.outputs
        data = output.data
        assert data["text/plain"] == frame.view.to_text()
        assert states(Page(data["text/html"])) == [(V1, "pending"), (V2, "pending")]
        assert type(frame[frame.state == "pending"]) is pd.DataFrame  # what pandas derives is plain

        frame.view.widget
        before = frame.view.migrator.progress
        frame.view.parts.up_button.click()
        assert applied(two) == [V1, V2]
        assert frame.view.migrator.progress is before  # the magics' own progress lines again
        assert shell.run_line_magic("migrate", "status")["state"].tolist() == ["applied", "applied"]

        frame["extra"] = 1  # changed in place: shown as the DataFrame it now is
        with capture_output() as shown:
            shell.display_formatter.format(frame)
        assert shown.outputs[0].data["text/plain"].splitlines()[0].split()[-1] == "extra"
    finally:
        InteractiveShell.clear_instance()


# -- the preview view -----------------------------------------------------------------------------

BASE = """CREATE TABLE metrics (id INTEGER PRIMARY KEY, name VARCHAR, value DOUBLE, note VARCHAR);
INSERT INTO metrics VALUES (1, 'a', 1.5, NULL), (2, 'b', 2.5, 'kept'), (3, 'c', 3.5, 'gone'), (4, 'd', 4.5, NULL);
CREATE TABLE logs (msg VARCHAR);
INSERT INTO logs VALUES ('old'), ('<script>alert(1)</script>');"""
CHANGE = """ALTER TABLE metrics ADD COLUMN tags VARCHAR;
UPDATE metrics SET value = value * 2, tags = '<b>x</b>' WHERE id <= 2;
DELETE FROM metrics WHERE id = 4;
ALTER TABLE metrics DROP COLUMN note;
DELETE FROM logs WHERE msg = 'old';
INSERT INTO logs VALUES ('<img src=x onerror=alert(1)>');"""


@pytest.fixture
def pending_change(project):
    project.sql(V1, "base", BASE, "DROP TABLE metrics;\nDROP TABLE logs;")
    project.sql(V2, "change", CHANGE, "SELECT 1;")
    project.migrator().up(V1)
    return project


def sections(page: Page) -> list[str]:
    """The preview's parts in the order a reader meets them."""
    text = page.text
    marks = ["preview of", "warnings: data would be lost", "table key rows before", "table logs", "table metrics",
             "proposed downgrade"]
    return sorted((m for m in marks if m in text), key=text.index)


def test_preview_html_puts_warnings_first_then_summary_then_tables(pending_change):
    preview = pending_change.migrator().preview()
    page = assert_safe(PreviewView(preview).to_html())
    assert sections(page) == ["preview of", "warnings: data would be lost", "table key rows before", "table logs",
                              "table metrics", "proposed downgrade"]
    assert page.text.startswith(
        f"preview of {V2} — nothing was applied: the database is as it was "
        "3 warnings: data would be lost rows removed 1 row removed from logs "
        "column dropped column metrics.note is dropped with 2 non-NULL values "
        "rows removed 1 row removed from metrics ")
    summary = page.rows[:2]
    assert summary == [["logs", "(whole row)", "2", "2", "1", "1", "", "1"],
                       ["metrics", "id", "4", "3", "0", "1", "2", "1"]]


def test_preview_sample_shows_before_and_after_side_by_side(pending_change):
    page = assert_safe(changes.sample(pending_change.migrator().preview().table("metrics")))
    assert page.head == [["id", "change", "name", "value", "note", "tags"],
                         ["before", "after", "before", "after", "before", "after"]]
    assert page.rows == [
        ["1", "changed", "a", "a", "1.5", "3.0", "NULL", "<b>x</b>"],
        ["2", "changed", "b", "b", "2.5", "5.0", "kept", "<b>x</b>"],
        ["4", "removed", "d", "—", "4.5", "—", "NULL", "—"],  # a removed row has no after: not NULL
    ]


def test_preview_highlights_changed_values_and_shades_added_and_removed_rows(pending_change):
    p = pending_change.migrator().preview()
    cells = re.findall(r'<td style="([^"]*)">(.*?)</td>', changes.sample(p.table("metrics")))
    red, green = changes.CHANGE_COLOURS["removed"], changes.CHANGE_COLOURS["added"]
    shaded = [(re.sub("<[^>]+>", "", v), s[s.index("background:"):]) for s, v in cells
              if "background:" in s and "border-radius" not in v]
    assert shaded == [("1.5", red), ("3.0", green), ("2.5", red), ("5.0", green)]
    rows = re.findall(r'<tr style="([^"]*)">', changes.sample(p.table("logs")))
    assert rows == [red, green]
    # the theme's text colour is kept: JupyterLab's error background (light or dark), a translucent tint else
    assert red == ("background:rgba(207,34,46,0.16);background:var(--jp-rendermime-error-background,"
                   "rgba(207,34,46,0.16))") and "color:" not in red + green
    logs = assert_safe(changes.sample(p.table("logs")))
    assert logs.rows == [["removed", "old", "—"], ["added", "—", "<img src=x onerror=alert(1)>"]]


def test_preview_widget_has_a_tab_per_table_and_a_closed_downgrade(pending_change):
    import ipywidgets as w

    view = PreviewView(pending_change.migrator().preview())
    box, parts = view.widget, view.parts
    assert box.children == (parts.header, parts.warnings, parts.summary, parts.tabs, parts.other, parts.downgrade)
    assert isinstance(parts.tabs, w.Tab) and parts.tabs.titles == ("logs", "metrics")
    metrics = assert_safe(parts.tabs.children[1].value)
    assert metrics.rows[:2] == [["column", "metrics", "note", "removed", "VARCHAR", ""],
                                ["column", "metrics", "tags", "added", "", "VARCHAR"]]
    assert [r[:2] for r in metrics.rows[2:]] == [["1", "changed"], ["2", "changed"], ["4", "removed"]]
    assert Page(parts.warnings.value).text.startswith("3 warnings: data would be lost")
    assert (parts.downgrade.titles, parts.downgrade.selected_index) == (("proposed downgrade",), None)
    assert Page(parts.downgrade.children[0].value).text.startswith('ALTER TABLE "metrics" DROP COLUMN "tags";')
    assert parts.other.value == ""
    # the preview's own data stays at hand once the widget is built: its DataFrames, not widgets
    assert view.summary.equals(view.preview.summary) and list(view.rows("logs").columns) == [
        "_change", "msg_before", "msg_after"]
    assert len(view.warnings) == 3 and view.warnings.equals(view.preview.warnings)
    assert view.schema.equals(view.preview.schema)
    for name in ("warnings", "header", "tabs", "downgrade", "other", "summary"):  # no widget shadows the data
        assert not isinstance(getattr(view, name, None), w.Widget), name


def test_preview_text(pending_change):
    preview = pending_change.migrator().preview()
    text = PreviewView(preview).to_text()
    assert text == changes.text(preview)  # one text rendering: the command's
    lines = text.splitlines()
    assert lines[:6] == [
        f"preview of {V2} (rolled back: the database is unchanged)",
        "",
        "warnings:",
        "  1 row removed from logs",
        "  column metrics.note is dropped with 2 non-NULL values",
        "  1 row removed from metrics",
    ]
    at = lines.index("rows:")
    assert lines[at + 1:at + 4] == [
        "TABLE    KEY          BEFORE  AFTER  ADDED  REMOVED  CHANGED  UNCHANGED",
        "logs     (whole row)  2       2      1      1        -        1",
        "metrics  id           4       3      0      1        2        1",
    ]
    at = lines.index("metrics: 3 of 3 rows added, removed or changed:")
    assert lines[at + 1:at + 5] == [
        "id  _change  name_before  name_after  value_before  value_after  note_before  tags_after",
        "1   changed  a            a           1.5           3.0          NULL         <b>x</b>",
        "2   changed  b            b           2.5           5.0          kept         <b>x</b>",
        "4   removed  d            —           4.5           —            NULL         —",
    ]
    assert repr(PreviewView(preview)) == text


def test_preview_of_a_failing_migration_says_so(pending_change):
    pending_change.sql(V3, "broken", "INSERT INTO nowhere VALUES (1);")
    p = pending_change.migrator().preview()
    page = assert_safe(PreviewView(p).to_html())
    assert page.text.startswith(f"preview of {V2}, {V3} — nothing was applied: the database is as it was "
                                f"failed {V3} fails: the changes below are those of {V2} alone "
                                "Catalog Error: Table with name nowhere does not exist!")
    failed, statement, covers = PreviewView(p).to_text().splitlines()[1:4]
    assert failed.startswith(f"FAILED: {V3}: Catalog Error: Table with name nowhere does not exist!")
    assert (statement, covers) == ("  statement: INSERT INTO nowhere VALUES (1)",
                                   f"  the diff below shows only the migrations before it: {V2}")


def test_a_preview_whose_first_migration_fails_says_so_and_stops(project):
    project.sql(V1, "broken", "INSERT INTO nowhere VALUES (1);")
    view = PreviewView(project.migrator().preview())
    page = assert_safe(view.to_html())
    assert page.text.startswith(f"preview of {V1} — nothing was applied: the database is as it was failed {V1} "
                                "fails: the preview stops here Catalog Error: Table with name nowhere does not exist!")
    assert page.text.endswith("statement: INSERT INTO nowhere VALUES (1)")  # and nothing after it
    view.widget
    assert "no table changes" not in view.parts.summary.value + view.to_text()


def test_terminal_html_and_widget_tell_the_same_story_of_values_written_into_an_added_column(project):
    with duckdb.connect(str(project.db)) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR)")
        conn.execute("INSERT INTO t SELECT range, 'n' || range FROM range(1000)")
    project.sql(V1, "score", "ALTER TABLE t ADD COLUMN score INTEGER DEFAULT 0;\nUPDATE t SET score = id % 7;",
                "ALTER TABLE t DROP COLUMN score;")
    view = PreviewView(project.migrator().preview(sample=5))
    text, page = view.to_text(), assert_safe(view.to_html())
    view.widget
    parts = view.parts
    widget = Page("".join([parts.header.value, parts.warnings.value, parts.summary.value]
                          + [tab.value for tab in parts.tabs.children]))
    for told in (text, page.text, widget.text):
        assert "changed values: t.score 857" in told
        assert "no rows differ" not in told
    assert ["t", "id", "1,000", "1,000", "0", "0", "857", "143"] in page.rows
    assert ["t", "id", "1,000", "1,000", "0", "0", "857", "143"] in widget.rows
    assert "t      id   1,000   1,000  0      0        857      143" in text
    samples = [r for r in widget.rows if r[1:2] == ["changed"]]
    assert samples == [r for r in page.rows if r[1:2] == ["changed"]] == [
        ["1", "changed", "1"], ["2", "changed", "2"], ["3", "changed", "3"], ["4", "changed", "4"],
        ["5", "changed", "5"]]
    assert "5 rows of the 857 that differ" in widget.text and "t: 5 of 857 rows added, removed or changed:" in text


def test_a_revert_reports_the_time_history_records(two):
    import io

    from duckmig_magic.render.progress import TextProgress

    m = two.migrator()
    m.up()
    out = io.StringIO()
    m.progress = TextProgress(out)
    results = m.down("base")
    reverted = [e for e in m.history() if e.event == "reverted"]
    assert [r.execution_ms for r in results] == [e.execution_ms for e in reverted]
    assert re.findall(r"ok \((\d+\.\d) ms\)", out.getvalue()) == [f"{e.execution_ms:.1f}" for e in reverted]


def test_preview_of_nothing(project):
    view = PreviewView(project.migrator().preview())
    assert assert_safe(view.to_html()).text == "nothing to preview: no migration is pending"
    assert view.to_text() == "nothing to preview: no migration is pending"
    view.widget
    assert (view.parts.tabs.layout.display, view.parts.downgrade.layout.display) == ("none", "none")


def test_preview_escapes_table_names(project):
    project.sql(V1, "evil", f'CREATE TABLE "{EVIL}" (x INTEGER);\nINSERT INTO "{EVIL}" VALUES (1);')
    view = PreviewView(project.migrator().preview())
    page = assert_safe(view.to_html())
    assert f"table {EVIL}" in page.text and page.rows[0][0] == EVIL
    view.widget
    assert view.parts.tabs.titles == (EVIL,)  # tab titles are text, never markup


# -- the dashboard asks before what cannot be taken back ------------------------------------------------


@pytest.fixture
def risky(project):
    """A migration that drops a 100,000-row table and has no downgrade, after a harmless one."""
    project.sql(V1, "create_events", "CREATE TABLE events AS SELECT range AS id FROM range(100000);",
                "DROP TABLE events;")
    project.migrator().up()
    project.sql(V2, "add_notes", "CREATE TABLE notes (x INTEGER);", "DROP TABLE notes;")
    project.sql(V3, "drop_events", "DROP TABLE events;")
    return project


def test_up_button_asks_before_applying_what_loses_data_or_cannot_be_reverted(risky):
    view = StatusView(risky.migrator())
    view.widget
    p = view.parts
    p.up_button.click()
    assert applied(risky) == [V1]  # nothing applied yet
    assert (p.up_button.description, p.up_button.button_style, p.cancel_button.layout.display) == (
        "apply anyway", "danger", None)
    asked = assert_safe(p.message.value).text
    assert asked.startswith("Applying the pending migrations cannot all be taken back:")
    assert "table events is dropped with its 100,000 rows" in asked
    assert f"{V3} has no downgrade: %migrate down could not revert it" in asked
    assert asked.endswith("Click apply anyway to apply them, or cancel; %migrate preview shows what they change.")
    assert "duckmig" not in p.message.value

    p.cancel_button.click()
    assert (p.up_button.description, p.cancel_button.layout.display, p.message.value) == ("up", "none", "")
    p.up_button.click()
    assert applied(risky) == [V1] and p.up_button.description == "apply anyway"
    p.up_button.click()
    assert applied(risky) == [V1, V2, V3]
    assert (p.up_button.description, p.cancel_button.layout.display) == ("up", "none")
    assert Page(p.message.value).text.startswith("applied 2 migrations in")


def test_a_typed_up_is_its_own_confirmation(risky, shell):
    shell.run_line_magic("migrate", "connect app.db")
    shell.run_line_magic("migrate", "up")
    assert applied(risky) == [V1, V2, V3]


def test_hints_in_the_dashboard_name_the_magics(risky):
    (risky.versions / f"{V1}_create_events.sql").write_text("-- migrate:up\nSELECT 1;\n")  # drift
    view = StatusView(risky.migrator())
    view.widget
    view.parts.up_button.click()  # the plan refuses: no question, the error with its hint
    text = Page(view.parts.message.value).text
    assert "hint: %migrate verify shows the details; accept intended edits with %migrate repair" in text
    assert "duckmig" not in text


def test_a_click_updates_the_output_a_saved_notebook_keeps(two):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in (
        "%load_ext duckmig_magic\n%migrate connect app.db",
        "df = %migrate status\ndf",
        "df.view.parts.up_button.click()",
    )])
    NotebookClient(nb, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(two.root)}}).execute()
    assert applied(two) == [V1, V2]
    (status,) = nb.cells[1].outputs
    assert status.output_type == "display_data"  # with a display id, which the click's update reached
    assert status.data["text/plain"].splitlines()[-1] == "2 applied"
    page = Page(status.data["text/html"])
    assert states(page) == [(V1, "applied"), (V2, "applied")]
    assert page.text.startswith("applied 2 migrations in")
    assert nb.cells[2].outputs == []
