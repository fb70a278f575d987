"""Only the optional C kernel lives here; everything else is in pyproject.toml.

If it cannot be built (no compiler, no zlib.h), the package installs without it and the
kernel runs in Python, with identical scores.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "zipfit_ray.kernel._native",
            sources=["zipfit_ray/kernel/_native.c"],
            libraries=["z", "dl"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
