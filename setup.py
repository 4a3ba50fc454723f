"""The one thing pyproject.toml cannot say: install templates/ and device_profiles/ with their
folder structure (data-files tables take flat lists). sdk_gen/resources.py finds them there."""

from pathlib import Path

from setuptools import setup


def tree(source: str, target: str) -> list[tuple[str, list[str]]]:
    folders = [Path(source), *sorted(p for p in Path(source).rglob("*") if p.is_dir())]
    entries = []
    for folder in folders:
        files = sorted(str(p) for p in folder.iterdir() if p.is_file())
        if files:
            entries.append((str(Path(target) / folder.relative_to(source)), files))
    return entries


setup(data_files=tree("templates", "share/sdkgen/templates") + tree("device_profiles", "share/sdkgen/device_profiles"))
