"""The views in a real JupyterLab, driven by a real chromium.

Starts JupyterLab on a free localhost port, opens a notebook that loads the
extension and shows the status and preview views, clicks "up" and checks the
view and the database. The chromium is Debian's (``make test`` installs it with
apt-get where it can); the test skips where it is missing.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from conftest import STATE

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
V1, V2 = "20250101_000000", "20250102_000000"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no chromium at {CHROMIUM}: `make test` installs Debian's "
                       "with apt-get (as root); elsewhere install the chromium package to run this test"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notebook(cells: list[str]) -> str:
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb)


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server over ``tmp_path``, with its settings kept inside it; yields its base URL and token."""
    pytest.importorskip("jupyterlab")
    config = tmp_path / "jupyter-config"
    (config / "labconfig").mkdir(parents=True)
    # No news or update checks: the test talks to nothing but its own server.
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    settings = tmp_path / "jupyter-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"autoStartDefaultKernel": True}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "jupyter-workspaces"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "jupyter-settings"))
    token, port = uuid.uuid4().hex, free_port()
    log = (tmp_path / "jupyter.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
         "--allow-root", "--LabApp.news_url=", "--LabApp.extension_manager=readonly",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{(tmp_path / 'jupyter.log').read_text()}")
                time.sleep(0.3)
        yield url, token
    finally:
        server.send_signal(signal.SIGTERM)  # the server shuts its kernels down
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_status_and_preview_views_in_jupyterlab(project, lab, browser):
    project.sql(V1, "create_metrics", "CREATE TABLE metrics (id INTEGER PRIMARY KEY, value DOUBLE);\n"
                "INSERT INTO metrics VALUES (1, 1.5), (2, 2.5), (3, 3.5);", "DROP TABLE metrics;")
    project.sql(V2, "add_tags", "ALTER TABLE metrics ADD COLUMN tags VARCHAR;\n"
                "UPDATE metrics SET value = value * 2 WHERE id = 1;\nDELETE FROM metrics WHERE id = 3;",
                "ALTER TABLE metrics DROP COLUMN tags;")
    project.migrator().up(V1)
    (project.root / "status.ipynb").write_text(notebook([
        "%load_ext duckmig_magic\n%migrate connect app.db --dir migrations",
        "%migrate status",
        "from duckmig_magic import Migrator\nfrom duckmig_magic.display import PreviewView\n"
        "PreviewView(Migrator('app.db', 'migrations').preview())",
    ]))
    url, token = lab
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{url}/lab/tree/status.ipynb?token={token}&reset")
        wait_for_kernel(url, token)
        check_views(page)
        check_dark_theme(page)
    except Exception:
        page.screenshot(path=str(project.root / "failed.png"))
        raise
    page.screenshot(path=str(project.root / "views.png"), full_page=True)
    assert project.query(f"SELECT version, status FROM {STATE} ORDER BY 1") == [
        (V1, "applied"), (V2, "applied")]
    assert project.query("SELECT * FROM metrics ORDER BY id") == [(1, 3.0, None), (2, 2.5, None)]


def wait_for_kernel(url: str, token: str, timeout: float = 30) -> None:
    """Until the notebook's kernel is started, idle and connected to the page."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/kernels?token={token}", timeout=2) as r:
            kernels = json.load(r)
        if any(k["execution_state"] == "idle" and k["connections"] > 0 for k in kernels):
            return
        time.sleep(0.3)
    pytest.fail(f"no kernel became ready within {timeout} s: {kernels}")


def check_views(page):
    from playwright.sync_api import expect

    page.locator(".lm-MenuBar-item", has_text="Run").click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    status = page.locator(".widget-vbox").filter(has=page.locator("button", has_text="down one step"))
    table = status.locator(".widget-html table")
    up = button(status, "up")
    expect(table.locator("tbody td:nth-child(4)")).to_have_text(["applied", "pending"])
    assert rows(table) == [[V1, "applied"], [V2, "pending"]]
    assert up.is_enabled()

    preview = page.locator(".widget-vbox").filter(has=page.locator(".widget-tab"))
    expect(preview.locator(".lm-TabBar-tabLabel")).to_have_text(["metrics"])
    expect(preview.get_by_text("1 row removed from metrics")).to_be_visible()
    expect(preview.locator(".widget-tab table").last.locator("tbody tr")).to_have_count(2)  # changed, removed

    up.click()  # the pending migration removes a row: the dashboard asks first
    expect(status.get_by_text("Applying the pending migrations cannot all be taken back:")).to_be_visible()
    expect(status.get_by_text("1 row removed from metrics")).to_be_visible()
    assert rows(table) == [[V1, "applied"], [V2, "pending"]]
    button(status, "apply anyway").click()
    expect(table.locator("tbody td:nth-child(4)")).to_have_text(["applied", "applied"])
    assert rows(table) == [[V1, "applied"], [V2, "applied"]]
    expect(status.locator(".widget-html", has_text="applied 1 migration in")).to_be_visible()
    assert up.is_disabled()
    assert button(status, "down one step").is_enabled()


def check_dark_theme(page):
    """In JupyterLab's dark theme a removed row keeps the theme's light text on a dark-enough tint."""
    from playwright.sync_api import expect

    page.locator(".lm-MenuBar-item", has_text="Settings").click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Theme$")).hover()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^JupyterLab Dark$")).click()
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
    preview = page.locator(".widget-vbox").filter(has=page.locator(".widget-tab"))
    removed = preview.locator(".widget-tab table").last.locator("tbody tr", has_text="removed")
    ink, tint = removed.evaluate("tr => [getComputedStyle(tr).color, getComputedStyle(tr).backgroundColor]")
    assert min(channels(ink)[:3]) > 200, ink  # the theme's light text, not a dark one of our own
    assert channels(tint)[3] < 0.5, tint  # a translucent tint over the dark background, not a pale fill


def channels(css: str) -> list[float]:
    """``rgb(...)`` or ``rgba(...)`` as [r, g, b, alpha]."""
    values = [float(v) for v in re.findall(r"[\d.]+", css)]
    return values + [1.0] * (4 - len(values))


def button(view, label: str):
    # by text, not by role: the icon's glyph is part of the button's accessible name
    return view.locator("button.widget-button", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))


def rows(table) -> list[list[str]]:
    """(version, state) of each row the browser shows."""
    return table.evaluate("t => [...t.querySelectorAll('tbody tr')].map(tr => "
                          "[tr.cells[0].innerText.trim(), tr.cells[3].innerText.trim()])")
