"""A Jupyter kernel that runs code strings one at a time, for the grader and the lab checks.

    with KernelSession(cwd=tmp) as kernel:
        result = kernel.run("x = 1 / 0", timeout=10)
        result.status, result.ename      # ('error', 'ZeroDivisionError')

Code goes to the kernel as an execute request, from memory: nothing the grader
runs is written to a file the kernel could read. Outcomes come from the
kernel's execute reply and error outputs (nbclient), never from parsing what
the code printed.
"""

import os
import subprocess
from dataclasses import dataclass, field

import nbformat


@dataclass
class RunResult:
    """Outcome of one `KernelSession.run`.

    status: 'ok', 'error' (the code raised), 'timeout' (ran past its limit; the
    kernel is then unusable) or 'dead' (the kernel process died).
    """
    status: str
    ename: str = ""
    evalue: str = ""
    stdout: str = ""
    outputs: list = field(default_factory=list)

    @property
    def ok(self):
        return self.status == "ok"

    @property
    def fatal(self):
        return self.status in ("timeout", "dead")


class KernelSession:
    """One fresh IPython kernel (nbclient), started on `start()` or `with`."""

    def __init__(self, kernel_name="python3", cwd=None, env=None, startup_timeout=120):
        self.kernel_name = kernel_name
        self.cwd = cwd
        self.env = dict(os.environ if env is None else env)
        self.startup_timeout = startup_timeout
        self.client = None

    def start(self):
        from nbclient import NotebookClient
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")])
        client = NotebookClient(nb, kernel_name=self.kernel_name, timeout=60,
                                allow_errors=False, interrupt_on_timeout=False,
                                record_timing=False, startup_timeout=self.startup_timeout,
                                shutdown_kernel="immediate", coalesce_streams=True)
        client.km = client.create_kernel_manager()
        # The kernel's own log lines (not the code's output, which comes over IOPub) are noise.
        kwargs = {"env": self.env, "stderr": subprocess.DEVNULL}
        if self.cwd is not None:
            kwargs["cwd"] = str(self.cwd)
        client.start_new_kernel(**kwargs)
        client.start_new_kernel_client()
        self.client = client
        return self

    def run(self, code, timeout):
        """Runs `code` and returns a `RunResult`; never raises for the code's own failures."""
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
        if self.client is None:
            raise RuntimeError("KernelSession.run called before start()")
        cell = nbformat.v4.new_code_cell(code)
        self.client.nb.cells[0] = cell
        self.client.timeout = max(1, int(timeout + 0.999))
        if not code.strip():
            return RunResult("ok")
        try:
            self.client.execute_cell(cell, 0, store_history=False)
        except CellTimeoutError:
            return RunResult("timeout", "TimeoutError", f"ran longer than {self.client.timeout} s",
                             _stdout(cell), list(cell.get("outputs", [])))
        except DeadKernelError:
            return RunResult("dead", "DeadKernelError", "the kernel died",
                             _stdout(cell), list(cell.get("outputs", [])))
        except CellExecutionError as error:
            return RunResult("error", error.ename, error.evalue, _stdout(cell),
                             list(cell.get("outputs", [])))
        except RuntimeError as error:   # e.g. the kernel went away between two requests
            if self.client.kc is None or not self._alive():
                return RunResult("dead", "DeadKernelError", f"the kernel died ({error})")
            raise
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        if errors:
            return RunResult("error", errors[0].get("ename", ""), errors[0].get("evalue", ""),
                             _stdout(cell), list(cell.outputs))
        return RunResult("ok", stdout=_stdout(cell), outputs=list(cell.outputs))

    def _alive(self):
        try:
            return bool(self.client.km.is_alive())
        except Exception:  # noqa: BLE001 - any failure means not usable
            return False

    def stop(self):
        if self.client is not None:
            try:
                self.client._cleanup_kernel()
            except Exception:  # noqa: BLE001 - a dead kernel may fail to clean up; nothing to do
                pass
            self.client = None

    def restart(self):
        self.stop()
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _stdout(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")
