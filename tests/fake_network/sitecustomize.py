"""Installs the fake network (course_fake_network.py) in every Python process started with
this folder on PYTHONPATH and COURSE_LIB_FAKE_NETWORK=1, Jupyter kernels included.

    PYTHONPATH=tests/fake_network COURSE_LIB_FAKE_NETWORK=1 COURSE_LIB_OFFLINE=0 python ...
"""

import os

if os.environ.get("COURSE_LIB_FAKE_NETWORK", "").strip().lower() in ("1", "true", "yes", "on"):
    import course_fake_network

    course_fake_network.install()
