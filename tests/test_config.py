"""Where settings come from: flags, then DUCKMIG_* variables, then [tool.duckmig] in pyproject.toml.

Each case writes a pyproject.toml in a project folder, runs from a folder below
it, and compares what duckmig would open: the database, or for a DuckLake the
exact ATTACH statement. Nothing is opened.
"""

from __future__ import annotations

import pytest

from duckmig_magic import config, errors

LAKE = '[tool.duckmig]\ndatabase = "ducklake:lake/c.ducklake"\n'
LAKE_SETTINGS = LAKE + 'data_path = "lake-data/"\n\n[tool.duckmig.options]\nmetadata_schema = "meta"\nbusy_timeout = 5\n'


def attach(catalog: str, options: str = "") -> str:
    return f"ATTACH '{catalog}' AS \"lake\"" + (f" ({options})" if options else "")


CASES = [
    # id, pyproject.toml ({root}: its folder), variables, flags, what is opened ({root}, {home}: folders)
    ("plain-path", '[tool.duckmig]\ndatabase = "data/app.db"\n', {}, {}, "{root}/data/app.db"),
    ("memory", '[tool.duckmig]\ndatabase = ":memory:"\n', {}, {}, ":memory:"),
    ("lake-file-catalog-under-pyproject", LAKE, {}, {}, attach("ducklake:{root}/lake/c.ducklake")),
    ("lake-duckdb-prefix", '[tool.duckmig]\ndatabase = "ducklake:duckdb:c.ducklake"\n', {}, {},
     attach("ducklake:duckdb:{root}/c.ducklake")),
    ("lake-sqlite-catalog", '[tool.duckmig]\ndatabase = "ducklake:sqlite:meta.sqlite"\n', {}, {},
     attach("ducklake:sqlite:{root}/meta.sqlite")),
    ("lake-any-case-prefix", '[tool.duckmig]\ndatabase = "DuckLake:c.ducklake"\n', {}, {},
     attach("ducklake:{root}/c.ducklake")),
    ("lake-home", '[tool.duckmig]\ndatabase = "ducklake:~/c.ducklake"\n', {}, {}, attach("ducklake:{home}/c.ducklake")),
    ("lake-absolute", '[tool.duckmig]\ndatabase = "ducklake:/lakes/c.ducklake"\n', {}, {},
     attach("ducklake:/lakes/c.ducklake")),
    ("lake-url", '[tool.duckmig]\ndatabase = "ducklake:s3://bucket/c.ducklake"\n', {}, {},
     attach("ducklake:s3://bucket/c.ducklake")),
    ("lake-postgres-as-written", '[tool.duckmig]\ndatabase = "ducklake:postgres:dbname=lake host=db"\n', {}, {},
     attach("ducklake:postgres:dbname=lake host=db")),
    ("lake-settings", LAKE_SETTINGS, {}, {},
     attach("ducklake:{root}/lake/c.ducklake", "DATA_PATH '{root}/lake-data', METADATA_SCHEMA 'meta', BUSY_TIMEOUT 5")),
    ("data-path-url", LAKE + 'data_path = "s3://bucket/lake/"\n', {}, {},
     attach("ducklake:{root}/lake/c.ducklake", "DATA_PATH 's3://bucket/lake/'")),
    ("data-path-as-an-option", LAKE + '[tool.duckmig.options]\nDATA_PATH = "d"\n', {}, {},
     attach("ducklake:{root}/lake/c.ducklake", "DATA_PATH '{root}/d'")),
    ("typed-options", LAKE + '[tool.duckmig.options]\nencrypted = true\ndata_inlining_row_limit = 0\n', {}, {},
     attach("ducklake:{root}/lake/c.ducklake", "ENCRYPTED true, DATA_INLINING_ROW_LIMIT 0")),
    # precedence: a flag, then a variable, then pyproject.toml; paths of flags and variables are the caller's
    ("variable-data-path", LAKE_SETTINGS, {"DUCKMIG_DATA_PATH": "env-data"}, {},
     attach("ducklake:{root}/lake/c.ducklake", "DATA_PATH 'env-data', METADATA_SCHEMA 'meta', BUSY_TIMEOUT 5")),
    ("flag-data-path", LAKE_SETTINGS, {"DUCKMIG_DATA_PATH": "env-data"}, {"data_path": "flag-data"},
     attach("ducklake:{root}/lake/c.ducklake", "DATA_PATH 'flag-data', METADATA_SCHEMA 'meta', BUSY_TIMEOUT 5")),
    ("flag-option-data-path", LAKE_SETTINGS, {}, {"options": ["data_path=flag-data"]},
     attach("ducklake:{root}/lake/c.ducklake", "DATA_PATH 'flag-data', METADATA_SCHEMA 'meta', BUSY_TIMEOUT 5")),
    ("flag-options-win-name-by-name", LAKE_SETTINGS, {},
     {"options": ["BUSY_TIMEOUT=9", "encrypted=TRUE", "encrypted=false"]},
     attach("ducklake:{root}/lake/c.ducklake",
            "DATA_PATH '{root}/lake-data', METADATA_SCHEMA 'meta', BUSY_TIMEOUT 9, ENCRYPTED false")),
    ("variable-database-takes-the-lake-settings", '[tool.duckmig]\ndata_path = "lake-data/"\n',
     {"DUCKMIG_DATABASE": "ducklake:postgres:dbname=lake password=s3cret"}, {},
     attach("ducklake:postgres:dbname=lake password=s3cret", "DATA_PATH '{root}/lake-data'")),
    ("flag-lake-takes-the-lake-settings", LAKE_SETTINGS, {}, {"database": "ducklake:other.ducklake"},
     attach("ducklake:other.ducklake", "DATA_PATH '{root}/lake-data', METADATA_SCHEMA 'meta', BUSY_TIMEOUT 5")),
    ("flag-file-leaves-the-lake-settings", LAKE_SETTINGS, {}, {"database": "scratch.db"}, "scratch.db"),
    ("variable-file-leaves-the-lake-settings", LAKE_SETTINGS, {"DUCKMIG_DATABASE": ":memory:"}, {}, ":memory:"),
    ("flag-lake-as-written", "", {}, {"database": "ducklake:c.ducklake", "data_path": "d/"},
     attach("ducklake:c.ducklake", "DATA_PATH 'd/'")),
]


@pytest.fixture
def below(tmp_path, monkeypatch):
    """(project folder, a folder below it that is the current one), no DUCKMIG_* variables, HOME in the project."""
    for name in config.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    here = tmp_path / "src" / "deeper"
    here.mkdir(parents=True)
    monkeypatch.chdir(here)
    return tmp_path, here


@pytest.mark.parametrize("pyproject, env, flags, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_what_is_opened(below, monkeypatch, pyproject, env, flags, expected):
    root, _ = below
    if pyproject:
        (root / "pyproject.toml").write_text(pyproject)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = config.resolve(**flags)
    target = settings.target
    opened = target if isinstance(target, str) else target.attach_sql()
    assert opened == expected.format(root=root, home=root / "home")


REFUSED = [
    # id, pyproject.toml, variables, flags, error, its message
    ("flag-data-path-for-a-file", "", {}, {"database": "app.db", "data_path": "d"}, errors.LakeSettingError,
     "--data-path is a setting of a DuckLake, and app.db is not one"),
    ("variable-data-path-for-a-file", "", {"DUCKMIG_DATA_PATH": "d"}, {"database": "app.db"},
     errors.LakeSettingError, "DUCKMIG_DATA_PATH is a setting of a DuckLake, and app.db is not one"),
    ("flag-option-for-memory", "", {}, {"database": ":memory:", "options": ["busy_timeout=1"]},
     errors.LakeSettingError, "--option BUSY_TIMEOUT is a setting of a DuckLake, and :memory: is not one"),
    ("flag-option-for-a-file-of-pyproject", '[tool.duckmig]\ndatabase = "app.db"\n', {}, {"options": ["encrypted=1"]},
     errors.LakeSettingError, "--option ENCRYPTED is a setting of a DuckLake, and {root}/app.db is not one"),
    ("pyproject-lake-settings-for-its-file", '[tool.duckmig]\ndatabase = "app.db"\ndata_path = "d"\n', {}, {},
     errors.LakeSettingError,
     "{root}/pyproject.toml: [tool.duckmig] data_path is a setting of a DuckLake, and app.db is not one"),
    ("pyproject-option-for-its-memory", '[tool.duckmig]\ndatabase = ":memory:"\noptions = {encrypted = true}\n', {},
     {}, errors.LakeSettingError,
     "{root}/pyproject.toml: [tool.duckmig] options.encrypted is a setting of a DuckLake, and :memory: is not one"),
    ("option-not-name-value", LAKE, {}, {"options": ["encrypted"]}, errors.ConfigError,
     "--option takes NAME=VALUE, as ATTACH takes (NAME VALUE), not 'encrypted'"),
    ("option-without-a-name", LAKE, {}, {"options": ["=true"]}, errors.ConfigError,
     "--option takes NAME=VALUE, as ATTACH takes (NAME VALUE), not '=true'"),
    ("flag-data-path-twice", LAKE, {}, {"data_path": "a", "options": ["DATA_PATH=b"]}, errors.LakeSettingError,
     "the data path is given twice: as --data-path and as --option DATA_PATH"),
    ("flag-unknown-option", LAKE, {}, {"options": ["compression=zstd"]}, errors.LakeSettingError,
     "COMPRESSION is not an ATTACH option of DuckLake that duckmig passes on"),
    ("flag-bool-word", LAKE, {}, {"options": ["encrypted=yes"]}, errors.LakeSettingError,
     "ENCRYPTED must be true or false, not 'yes'"),
    ("flag-unicode-digit", LAKE, {}, {"options": ["busy_timeout=²"]}, errors.LakeSettingError,
     "BUSY_TIMEOUT must be a whole number, not '²'"),
    ("flag-read-only", LAKE, {}, {"options": ["read_only=true"]}, errors.LakeSettingError,
     "READ_ONLY attaches the lake read-only, and migrations write to the lake"),
    ("flag-empty-data-path", LAKE, {}, {"data_path": ""}, errors.LakeSettingError, "DATA_PATH is empty"),
    ("pyproject-option-of-a-wrong-type", LAKE + '[tool.duckmig.options]\nbusy_timeout = "soon"\n', {}, {},
     errors.LakeSettingError,
     "{root}/pyproject.toml: [tool.duckmig.options] BUSY_TIMEOUT must be a whole number, not 'soon'"),
    ("pyproject-negative-number", LAKE + '[tool.duckmig.options]\nbusy_timeout = -1\n', {}, {},
     errors.LakeSettingError,
     "{root}/pyproject.toml: [tool.duckmig.options] BUSY_TIMEOUT must be a whole number, not -1"),
    ("pyproject-float", LAKE + '[tool.duckmig.options]\ndata_inlining_row_limit = 1.5\n', {}, {},
     errors.LakeSettingError,
     "{root}/pyproject.toml: [tool.duckmig.options] DATA_INLINING_ROW_LIMIT must be a whole number, not 1.5"),
    ("pyproject-unknown-option", LAKE + '[tool.duckmig.options]\nsnapshot = 3\n', {}, {}, errors.LakeSettingError,
     "{root}/pyproject.toml: [tool.duckmig.options] SNAPSHOT is not an ATTACH option"),
    ("pyproject-options-not-a-table", LAKE + 'options = "ENCRYPTED=true"\n', {}, {}, errors.ConfigError,
     "{root}/pyproject.toml: [tool.duckmig] options must be a table of ATTACH options, not 'ENCRYPTED=true'"),
    ("pyproject-data-path-twice", LAKE + 'data_path = "a"\n[tool.duckmig.options]\ndata_path = "b"\n', {}, {},
     errors.LakeSettingError, "{root}/pyproject.toml: [tool.duckmig] the data path is given twice: as data_path and "
                           "as DATA_PATH in [tool.duckmig.options]"),
    ("pyproject-blank-data-path", LAKE + 'data_path = " "\n', {}, {}, errors.LakeSettingError,
     "{root}/pyproject.toml: [tool.duckmig] data_path is empty"),
    ("pyproject-data-path-not-a-string", LAKE + "data_path = 5\n", {}, {}, errors.ConfigError,
     "{root}/pyproject.toml: [tool.duckmig] data_path must be a string, not 5"),
]


@pytest.mark.parametrize("pyproject, env, flags, error, says", [c[1:] for c in REFUSED],
                         ids=[c[0] for c in REFUSED])
def test_refused(below, monkeypatch, pyproject, env, flags, error, says):
    root, here = below
    if pyproject:
        (root / "pyproject.toml").write_text(pyproject)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    before = sorted(root.rglob("*"))
    with pytest.raises(errors.DuckmigError) as raised:
        config.resolve(**flags)
    assert type(raised.value) is error
    assert raised.value.message_text().startswith(says.format(root=root))
    assert raised.value.hint_text()
    assert sorted(root.rglob("*")) == before


def test_source_is_told_only_with_a_section(below):
    root, here = below
    (root / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert config.resolve().source is None
    (root / "pyproject.toml").write_text(LAKE_SETTINGS)
    assert config.resolve().source == str(root / "pyproject.toml")
