"""Where a submission's code runs: one kernel per submission, in an OS sandbox.

Skeleton: today a plain kernel in an empty temporary folder (no isolation yet).
"""

import shutil
import tempfile

from course_instructor.kernel import KernelSession


def make_kernel_factory(kernel_name="python3", env=None):
    def factory():
        folder = tempfile.mkdtemp(prefix="course-lib-grade-")
        return _TempKernel(folder, kernel_name=kernel_name, cwd=folder, env=env)
    return factory


class _TempKernel(KernelSession):
    def __init__(self, folder, **kwargs):
        super().__init__(**kwargs)
        self.folder = folder

    def stop(self):
        super().stop()
        shutil.rmtree(self.folder, ignore_errors=True)


