"""This Flower app with another ClientApp module: a lying, poisoning or deliberately broken partner.

The chaos command's rogue partner and the tests' rogue and noiseless partners run the real ServerApp and the
real ``client.app`` code (installed in this environment), except that ``[tool.flwr.app.components]`` names a
module written next to the copied pyproject.toml as the ClientApp.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLIENTAPP = 'clientapp = "client.app:app"'


def app_with_client(folder: Path, module: str, source: str) -> Path:
    """Write ``folder`` as this app whose ClientApp is ``<module>:app``, ``source`` being ``<module>.py``."""
    folder.mkdir(parents=True)
    pyproject = (REPO / "pyproject.toml").read_text()
    if CLIENTAPP not in pyproject:
        raise ValueError(f"{REPO / 'pyproject.toml'}: no line {CLIENTAPP!r} to replace")
    (folder / "pyproject.toml").write_text(pyproject.replace(CLIENTAPP, f'clientapp = "{module}:app"'))
    (folder / f"{module}.py").write_text(source)
    return folder
