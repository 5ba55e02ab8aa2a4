"""Tests of gridmgmt.config: load_settings defaults and errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridmgmt._errors import ConfigError
from gridmgmt.config import load_settings, minutes_of_day


def toml(tmp_path, text):
    path = tmp_path / "district.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_and_overrides(tmp_path):
    """Unstated settings keep defaults; stated ones override; root is the file's folder."""
    settings = load_settings(toml(tmp_path, 'name = "云岩区"\n[grids]\ncount = 10\n[shift]\nstart = "08:00"\n'))
    assert settings.name == "云岩区"
    assert settings.grids.count == 10
    assert settings.shift.start == "08:00" and settings.shift.end == "17:30"
    assert settings.root == tmp_path.resolve()
    assert settings.path("retailers") == tmp_path.resolve() / "retailers.csv"


def test_unknown_key_named(tmp_path):
    """An unknown key is an error naming the dotted key and listing the known ones."""
    with pytest.raises(ConfigError) as info:
        load_settings(toml(tmp_path, "[grids]\ncuont = 3\n"))
    assert "field 'grids.cuont': unknown setting" in str(info.value)
    assert "count" in str(info.value)


def test_bad_time_named(tmp_path):
    """A shift time that is not HH:MM names the key and the value."""
    with pytest.raises(ConfigError) as info:
        load_settings(toml(tmp_path, '[shift]\nstart = "8h30"\n'))
    assert "field 'shift.start': not a time of day" in str(info.value)
    assert "8h30" in str(info.value)


def test_wrong_type_named(tmp_path):
    """A value of the wrong type names the key and the expected type."""
    with pytest.raises(ConfigError) as info:
        load_settings(toml(tmp_path, '[speeds]\nwalk_kmh = "fast"\n'))
    assert "field 'speeds.walk_kmh': expected a float" in str(info.value)


def test_cross_checks(tmp_path):
    """Shift end before start and an unknown coordinate system are both reported."""
    with pytest.raises(ConfigError) as info:
        load_settings(toml(tmp_path, '[shift]\nstart = "18:00"\nend = "09:00"\n[coords]\nretailers = "utm"\n'))
    fields = {p.field for p in info.value.problems}
    assert fields == {"shift.end", "coords.retailers"}


def test_missing_and_invalid_file(tmp_path):
    """A missing file and invalid TOML name the file."""
    with pytest.raises(ConfigError, match="district file not found"):
        load_settings(tmp_path / "none.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(toml(tmp_path, "[grids\n"))


def test_minutes_of_day():
    """HH:MM converts to minutes after midnight."""
    assert minutes_of_day("08:30") == 510
    assert minutes_of_day("24:00") == 1440


def test_district_lang(tmp_path):
    """[district] lang sets the label language (zh or en); unstated it is zh, as for the demo; others are errors."""
    assert load_settings(toml(tmp_path, '[district]\nlang = "en"\n')).district.lang == "en"
    assert load_settings(toml(tmp_path, 'name = "x"\n')).district.lang == "zh"
    demo = Path(__file__).resolve().parent.parent / "data" / "demo" / "district.toml"
    assert load_settings(demo).district.lang == "zh"  # the demo (Guiyang) states no lang
    with pytest.raises(ConfigError) as info:
        load_settings(toml(tmp_path, '[district]\nlang = "fr"\n'))
    assert "field 'district.lang': unknown label language" in str(info.value)
    assert "use zh or en" in str(info.value)
