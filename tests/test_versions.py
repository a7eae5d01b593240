"""Version files on disk: slugs, creation, discovery, encodings and checksums."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from datetime import datetime

import pytest

from duckmig_magic import errors
from duckmig_magic.engine import sqlfile
from duckmig_magic.engine.versions import (FILE_RE, IgnoredFile, ScriptDirectory, checksum, python_template,
                                           slugify, write_atomically)

NOW = datetime(2025, 7, 10, 12, 0, 0)
SAFE_SLUG = re.compile(r"^[a-z0-9_]{1,60}$")


@pytest.mark.parametrize("description, slug", [
    ("Add tags column", "add_tags_column"),
    ("it's \"quoted\" `backticked`", "it_s_quoted_backticked"),
    ("a/b\\c", "a_b_c"),
    ("../../etc/passwd", "etc_passwd"),
    ("..", "migration"),
    ("/", "migration"),
    ("", "migration"),
    ("   \t\n", "migration"),
    ("émigré café", "emigre_cafe"),
    ("日本語のテスト", "migration"),
    ("duck 🦆 emoji", "duck_emoji"),
    ("Straße", "strae"),
    ("UPPER and lower", "upper_and_lower"),
    ("__dunder__", "dunder"),
    ("tab\tand\nnewline\r\nand\x00nul", "tab_and_newline_and_nul"),
    ("x" * 300, "x" * 60),
    ("word " * 60, ("word_" * 12).rstrip("_")),
    ("a" * 59 + " b", "a" * 59),  # cut at 60 would end in `_`: the `_` goes
    ("2025 cleanup", "2025_cleanup"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 30 and v.isprintable() else None)
def test_slugify(description, slug):
    assert slugify(description) == slug
    assert SAFE_SLUG.match(slug)


HOSTILE = [
    "it's \"quoted\" '''\"\"\" \\",
    "a/b\\c",
    "../../etc/passwd",
    "..",
    "émigré café 日本語 🦆",
    "x" * 300,
    "",
    "new\nline\r\nand\rreturn",
    "nul\x00 and \x1b[31mescape",
    "-- migrate:down",
    "*/ /* {braces} %s",
]


@pytest.mark.parametrize("python", [False, True], ids=["sql", "python"])
@pytest.mark.parametrize("description", HOSTILE, ids=range(len(HOSTILE)))
def test_file_from_hostile_description_loads_inside_versions(project, description, python):
    migrator = project.migrator()
    if python:
        script = migrator.new(description, python=True)
    else:
        script = migrator.new(description, up="CREATE TABLE t (x INTEGER);", down="DROP TABLE t;")
    assert script.path.resolve().parent == project.versions.resolve()
    assert FILE_RE.fullmatch(script.path.name) and SAFE_SLUG.match(script.slug)
    [found] = ScriptDirectory(project.directory).scripts()
    assert (found.path, found.version) == (script.path, script.version)
    found.load()
    assert found.description == (sqlfile.one_line(description) or "migration")
    assert sorted(p.name for p in project.root.rglob("*") if p.is_file()) == [script.path.name]


def test_python_template_loads_and_runs_nothing(project):
    migrator = project.migrator()
    script = migrator.new("Add tags", python=True)
    assert script.path.read_text() == python_template(script.version, "Add tags")
    script.load()  # it imports cleanly
    assert migrator.up() == []  # untouched, it is a draft that planning skips
    assert [m.state for m in migrator.status()] == ["draft"]
    assert project.tables() == set()


def test_two_creates_in_one_second_get_different_versions(project):
    scripts = ScriptDirectory(project.directory)
    text = lambda v: "-- migrate:up\nSELECT 1;\n"  # noqa: E731
    made = [scripts.create(d, text, now=NOW, kind=k) for d, k in
            [("first", "sql"), ("first", "sql"), ("second", "python"), ("third", "sql")]]
    assert [s.path.name for s in made] == ["20250710_120000_first.sql", "20250710_120001_first.sql",
                                           "20250710_120002_second.py", "20250710_120003_third.sql"]


def test_create_skips_a_version_taken_by_any_file(project):
    project.write("20250710_120000_other.py", "x = 1\n")
    project.write("20250710_120001_x.sql", "-- migrate:up\nSELECT 1;\n")
    script = ScriptDirectory(project.directory).create("x", lambda v: "-- migrate:up\nSELECT 1;\n", now=NOW)
    assert script.path.name == "20250710_120002_x.sql"


def test_create_leaves_no_file_when_the_text_fails(project):
    def broken(version):
        raise RuntimeError("template failed")

    with pytest.raises(RuntimeError, match="template failed"):
        ScriptDirectory(project.directory).create("x", broken, now=NOW)
    assert list(project.versions.iterdir()) == []


RACER = """
import sys
from datetime import datetime
from duckmig_magic.engine.versions import ScriptDirectory
directory, name = sys.argv[1], sys.argv[2]
scripts = ScriptDirectory(directory)
sys.stdin.readline()  # start together
for i in range(4):
    s = scripts.create(f"{name} {i}", lambda v: "-- migrate:up\\nSELECT 1;\\n", now=datetime(2025, 7, 10, 12, 0, 0))
    print(s.version)
"""


def test_processes_creating_at_once_never_share_a_version(project):
    """Each process takes its own version even when all ask for the same second with other slugs."""
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(project.directory), f"racer{n}"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for n in range(4)]
    for r in racers:
        r.stdin.write("go\n")
    for r in racers:
        r.stdin.close()
    versions = [line for r in racers for line in r.stdout.read().split()]
    assert [r.wait() for r in racers] == [0, 0, 0, 0]
    assert sorted(versions) == [f"20250710_1200{s:02d}" for s in range(16)]
    assert len(ScriptDirectory(project.directory).scripts()) == 16


def test_scripts_in_version_order(project):
    project.write("20250711_000000_b.py", "x = 1\n")
    project.write("20250710_000000_a.sql", "-- migrate:up\nSELECT 1;\n")
    project.write("20250712_000000_c_2.sql", "-- migrate:up\nSELECT 1;\n")
    got = [(s.version, s.slug, s.kind, s.name) for s in ScriptDirectory(project.directory).scripts()]
    assert got == [("20250710_000000", "a", "sql", "20250710_000000_a.sql"),
                   ("20250711_000000", "b", "python", "20250711_000000_b.py"),
                   ("20250712_000000", "c_2", "sql", "20250712_000000_c_2.sql")]


IGNORED = ["README.md", "notes.sql", "20250710_1200_short.sql", "20250710_120000_Upper.sql",
           "20250710_120000-dash.sql", "20250710_120000_x.txt", "20250710_120000_.sql", "20250710_120000.sql",
           "20250710_120000_x.sql.bak", "2025-07-10_120000_x.sql",
           "\uff12\uff10\uff12\uff150710_120000_wide_digits.sql", "20250710_120000_x.sql\n"]


@pytest.mark.parametrize("name", IGNORED)
def test_non_matching_name_is_ignored_with_a_warning(project, name):
    project.write(name, "-- migrate:up\nSELECT 1;\n")
    project.write("20250710_000000_kept.sql", "-- migrate:up\nSELECT 1;\n")
    with pytest.warns(IgnoredFile) as caught:
        scripts = ScriptDirectory(project.directory).scripts()
    assert [s.name for s in scripts] == ["20250710_000000_kept.sql"]
    assert [str(w.message) for w in caught] == [
        f"{project.versions / name}: ignored, the name does not match YYYYMMDD_HHMMSS_slug.sql or .py "
        "(slug: a-z, 0-9 and _)"]


def test_a_name_longer_than_its_temporary_file_allows_is_not_a_version_files(project):
    """233 characters at most: the temporary name written beside the file (22 more) must fit in 255."""
    longest, longer = f"20250710_000000_{'a' * 213}.sql", f"20250710_000001_{'a' * 214}.sql"
    assert (len(longest), len(longer)) == (233, 234)
    project.write(longest, "-- migrate:up\nSELECT 1;\n")
    project.write(longer, "-- migrate:up\nSELECT 1;\n")
    with pytest.warns(IgnoredFile) as caught:
        scripts = ScriptDirectory(project.directory).scripts()
    assert [s.name for s in scripts] == [longest]
    assert [str(w.message) for w in caught] == [
        f"{project.versions / longer}: ignored, the name is longer than 233 characters, the most a version "
        "file's name may have"]
    write_atomically(scripts[0].path, "-- migrate:up\nSELECT 2;\n")  # its temporary name fits
    assert scripts[0].path.read_text() == "-- migrate:up\nSELECT 2;\n"


def test_tool_files_are_skipped_silently(project):
    for name in [".gitkeep", ".20250710_000000_hidden.sql", "__init__.py", "20250710_000000_x.pyc", "x.sql~"]:
        project.write(name, "")
    (project.versions / "__pycache__").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ScriptDirectory(project.directory).scripts() == []


def test_ignored_file_is_not_run(project):
    project.write("20250710_000000_Bad.sql", "-- migrate:up\nCREATE TABLE bad (x INTEGER);\n")
    with pytest.warns(IgnoredFile, match="20250710_000000_Bad.sql"):
        assert project.migrator().up() == []
    assert not project.db.exists()


def test_duplicate_version(project):
    project.write("20250710_120000_a.sql", "-- migrate:up\nSELECT 1;\n")
    project.write("20250710_120000_b.py", "x = 1\n")
    with pytest.raises(errors.MigrationFileError) as info:
        ScriptDirectory(project.directory).scripts()
    exc = info.value
    assert exc.path == project.versions / "20250710_120000_a.sql"
    assert str(exc) == (f"{project.versions / '20250710_120000_a.sql'}: version 20250710_120000 is used by 2 files: "
                        "20250710_120000_a.sql, 20250710_120000_b.py\n"
                        "  hint: give one of them a new version (rename it, or recreate it with `Migrator.new()`)")


@pytest.mark.parametrize("name, raw, line", [
    ("20250710_120000_latin1.sql", "-- migrate:up\nINSERT INTO t VALUES ('café');\n".encode("latin-1"), 2),
    ("20250710_120000_utf16.sql", "-- migrate:up\nSELECT 1;\n".encode("utf-16"), 1),
    ("20250710_120000_latin1.py", "# ok\n# ok\n# caf\xe9\n".encode("latin-1"), 3),
    ("20250710_120000_crlf.sql", "-- migrate:up\r\nSELECT 1;\r\n-- \xff\r\n".encode("latin-1"), 3),
])
def test_not_utf8_names_the_line(project, name, raw, line):
    path = project.versions / name
    path.write_bytes(raw)
    [script] = ScriptDirectory(project.directory).scripts()
    with pytest.raises(errors.MigrationFileError) as info:
        script.load()
    assert (info.value.path, info.value.line) == (path, line)
    assert str(info.value) == f"{path}:{line}: the file is not UTF-8 text\n  hint: save the file as UTF-8"
    with pytest.raises(errors.MigrationFileError, match="the file is not UTF-8 text"):
        project.migrator().up()
    assert not project.db.exists()


def test_no_directory(tmp_path):
    with pytest.raises(errors.ConfigError) as info:
        ScriptDirectory(tmp_path / "nowhere").scripts()
    assert str(info.value).startswith(f"migrations directory {tmp_path / 'nowhere'} does not exist\n  hint: ")


def test_directory_without_versions_folder(tmp_path):
    with pytest.raises(errors.ConfigError) as info:
        ScriptDirectory(tmp_path).scripts()
    assert str(info.value).startswith(f"migrations directory {tmp_path / 'versions'} does not exist\n  hint: ")


@pytest.mark.parametrize("a, b, same", [
    ("-- migrate:up\nSELECT 1;\n", "-- migrate:up\r\nSELECT 1;\r\n", True),
    ("-- migrate:up\nSELECT 1;\n", "-- migrate:up\rSELECT 1;\r", True),
    ("-- migrate:up\nSELECT 1;\n", "\ufeff-- migrate:up\nSELECT 1;\n", True),
    ("-- migrate:up\nSELECT 1;\n", "-- migrate:up\nSELECT 2;\n", False),
    ("-- migrate:up\nSELECT 1;\n", "-- migrate:up\nSELECT 1; \n", False),
    ("-- migrate:up\nSELECT 1;\n", "-- migrate:up\nSELECT 1;", False),
])
def test_checksum(a, b, same):
    assert (checksum(a) == checksum(b)) is same
    assert re.fullmatch(r"[0-9a-f]{64}", checksum(a))


@pytest.mark.parametrize("raw", [b"-- migrate:up\nSELECT 1;\n", b"-- migrate:up\r\nSELECT 1;\r\n",
                                 b"-- migrate:up\rSELECT 1;\r", b"\xef\xbb\xbf-- migrate:up\nSELECT 1;\n",
                                 b"\xef\xbb\xbf\xef\xbb\xbf-- migrate:up\nSELECT '\r';\n", b"-- migrate:up\nSELECT '\xc3\xa9';"])
def test_a_files_checksum_is_its_texts(project, raw):
    """Files whose normalised text is their own bytes are hashed as read: the same checksum either way."""
    (project.versions / "20250710_000000_f.sql").write_bytes(raw)
    [script] = ScriptDirectory(project.directory).scripts()
    assert script.checksum == checksum(raw.decode())


def test_checksum_of_files_ignores_line_endings(project):
    project.write("20250710_000000_lf.sql", "-- migrate:up\nSELECT 1;\n")
    (project.versions / "20250710_000001_crlf.sql").write_bytes(b"-- migrate:up\r\nSELECT 1;\r\n")
    lf, crlf = ScriptDirectory(project.directory).scripts()
    assert lf.checksum == crlf.checksum


@pytest.mark.parametrize("raw, description", [
    (b"-- description: Add t\n-- migrate:up\nSELECT 1;\n", "Add t"),
    (b"\xef\xbb\xbf-- description: Add t\r\n-- migrate:up\r\nSELECT 1;\r\n", "Add t"),
    (b"-- migrate:up\nSELECT 1;\n", "the slug"),
    (b"-- migrate:up\n-- description: not a header\nSELECT 1;\n", "the slug"),
])
def test_description_of_a_sql_file(project, raw, description):
    (project.versions / "20250710_000000_the_slug.sql").write_bytes(raw)
    [script] = ScriptDirectory(project.directory).scripts()
    assert (script.description, script.quick_description) == (description, description)


@pytest.mark.parametrize("raw, draft", [
    (b"-- migrate:up\n\n-- migrate:down\n", True),
    (b"-- description: Add t\n-- migrate:up\n-- migrate:down\n", True),
    (b"\xef\xbb\xbf-- migrate:up\r\n\r\n-- migrate:down\r\n", True),
    (b"-- migrate:up\r-- migrate:down  \r\r", True),
    (b"-- migrate:up\nCREATE TABLE t (x INTEGER);\n-- migrate:down\n", False),
    (b"-- migrate:up\n-- migrate:down\nDROP TABLE t;\n", False),
    (b"-- migrate:up\nSELECT 1; -- migrate:down\n", False),
    (b"-- a note\n-- migrate:up\n-- migrate:down\n", False),
])
def test_an_untouched_sql_template_is_a_draft(project, raw, draft):
    (project.versions / "20250710_000000_f.sql").write_bytes(raw)
    [script] = ScriptDirectory(project.directory).scripts()
    assert script.is_draft is draft
