"""Running one formula as ``repeatr run`` does: the job pipeline, host checks, assembly, cradle, executors, records.

May import :mod:`r2k8s.core.ware`, :mod:`r2k8s.core.formula`,
:mod:`r2k8s.core.warehouse` and the core's leaves, never
:mod:`r2k8s.core.agent`.
"""

from r2k8s.core.run.job import Job, JobOptions, Monitor
from r2k8s.core.run.record import RunRecord

__all__ = ["Job", "JobOptions", "Monitor", "RunRecord"]
