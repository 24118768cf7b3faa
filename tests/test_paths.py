from pathlib import Path

from audioanom import paths


def test_defaults_are_under_the_repository(monkeypatch):
    for var in (
        "AUDIOANOM_ROOT",
        "AUDIOANOM_DATA",
        "AUDIOANOM_FIGURES",
        "AUDIOANOM_CACHE",
        "AUDIOANOM_BUILD",
        "AUDIOANOM_EXECUTED",
        "AUDIOANOM_SHARED_DATA",
    ):
        monkeypatch.delenv(var, raising=False)
    root = paths.repo_root()
    assert (root / "pyproject.toml").is_file() and (root / "audioanom").is_dir()
    assert paths.data_dir() == root / "data"
    assert paths.figures_dir() == root / "figures"
    assert paths.cache_dir() == root / "data" / "cache"
    assert paths.executed_dir() == root / "build" / "executed"
    assert paths.registry_file() == root / "data" / "registry.json"
    assert paths.shared_data() == (root.parent / "shared" / "data").resolve()


def test_environment_variables_override_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUDIOANOM_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("AUDIOANOM_FIGURES", "~/figs")
    monkeypatch.setenv("AUDIOANOM_BUILD", str(tmp_path / "b"))
    monkeypatch.setenv("AUDIOANOM_SHARED_DATA", str(tmp_path / "s"))
    assert paths.data_dir() == tmp_path / "d"
    assert paths.cache_dir() == tmp_path / "d" / "cache"  # follows the data folder
    assert paths.figures_dir() == Path("~/figs").expanduser().resolve()
    assert paths.executed_dir() == tmp_path / "b" / "executed"
    assert paths.shared_data() == tmp_path / "s"
    assert paths.ensure(tmp_path / "x" / "y").is_dir()
