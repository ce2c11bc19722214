"""The settings are declared once (sakyum_magic._core.settings); traitlets, the migrator's fields and
the Migrator's keyword arguments follow that declaration."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

from sakyum_magic import Migrator
from sakyum_magic._core.settings import FOLLOWED, SETTINGS
from sakyum_magic._frontend.magic import MigrateMagics
from tests.shells import migrate

NEW_VALUES = {str: "elsewhere", bool: False, float: 12.5}


def test_each_setting_is_a_traitlet_with_its_declared_default_and_help() -> None:
    traits = MigrateMagics.class_traits(config=True)
    assert sorted(traits) == sorted(s.name for s in SETTINGS)
    for setting in SETTINGS:
        trait = traits[setting.name]
        assert trait.default_value == setting.default and trait.help == setting.help, setting.name
        assert trait.allow_none == setting.optional


def test_the_migrator_takes_each_followed_setting_with_the_same_default() -> None:
    parameters = inspect.signature(Migrator.__init__).parameters
    for name in FOLLOWED:
        setting = next(s for s in SETTINGS if s.name == name)
        assert name in parameters, name
        assert parameters[name].default == setting.default, name


def test_setting_a_traitlet_sets_the_migrators_field(shell: Any, workdir: Path) -> None:
    magics = shell.magics_manager.registry["MigrateMagics"]
    migrator = magics.migrator
    for setting in SETTINGS:
        if not setting.follows or setting.name in {"url", "metadata"}:
            continue  # those two have tests of their own (masking, expressions)
        value = NEW_VALUES[setting.kind]
        shell.run_line_magic("config", f"MigrateMagics.{setting.name} = {value!r}")
        assert getattr(migrator, setting.name) == setting.value_for_migrator(value), setting.name
    assert migrate(shell, "config").loc[0, "directory"] == "elsewhere"


ONE_EDIT = """
from sakyum_magic._core import settings
page_size = settings.Setting("page_size", float, 20.0, "Rows per page", follows=False)
settings.SETTINGS = (*settings.SETTINGS, page_size)
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "sakyum_magic")
shell.run_line_magic("config", "MigrateMagics.page_size = 50")
magics = shell.magics_manager.registry["MigrateMagics"]
print(magics.page_size, type(magics).class_traits()["page_size"].help)
"""


def test_adding_a_setting_is_one_entry_in_the_declaration() -> None:
    """A new entry in SETTINGS is a %config setting of the magic at once: nothing else to edit."""
    done = subprocess.run([sys.executable, "-c", ONE_EDIT], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[0] == "50.0 Rows per page"
