"""Builds the PDQ index's C inner loops (consentry.hashindex._mih); everything else is in
pyproject.toml. The extension is optional: without a compiler the index runs its numpy path."""

import platform

from setuptools import Extension, setup

flags = ["-O3", "-std=c11"]
if platform.machine().lower() in ("x86_64", "amd64"):
    flags.append("-mpopcnt")  # one instruction per 64 bits instead of a table lookup

setup(
    ext_modules=[
        Extension(
            "consentry.hashindex._mih",
            ["src/consentry/hashindex/_mih.c"],
            extra_compile_args=flags,
            optional=True,
        )
    ]
)
