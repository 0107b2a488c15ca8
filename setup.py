"""Maps the card's top-level folders under the one import root ``srcnet_eb`` (metadata: pyproject.toml)."""
from setuptools import find_packages, setup

FOLDERS = ("shared", "services", "standins", "client")  # each becomes srcnet_eb.<folder>

setup(
    packages=["srcnet_eb"] + [f"srcnet_eb.{p}" for p in find_packages(include=[f"{f}*" for f in FOLDERS])],
    package_dir={"srcnet_eb": "srcnet_eb", **{f"srcnet_eb.{f}": f for f in FOLDERS}},
)
