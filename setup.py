"""The one compiled part of the hub: `hub.mapping._xmlwalk`, the XML mapping walks in C.

Everything else is declared in pyproject.toml. The extension is optional: where it does not build (no C
compiler, no Python headers), the install goes on and `hub/mapping/compiled_xml.py` walks in Python,
with the same results, slower (bench/bench_xml.py prints which ran).
"""

import lxml
from setuptools import Extension, setup

setup(ext_modules=[Extension("hub.mapping._xmlwalk", ["hub/mapping/_xmlwalk.c"],
                             include_dirs=lxml.get_include(), optional=True)])
