"""Running a config's stages as SLURM jobs through submitit: job arrays, dependent merges, ``torchrun`` per node.

:func:`submit` turns the stages into jobs, in order, each stage depending on
the jobs of the one before (``--dependency=afterok``):

* the per-image stages (sweep, cups, panoptic) with ``launch.shards`` > 1: one
  job array, task i running shard i (as ``--num_shards/--shard_index`` do),
  then, for the sweep and the panoptic export, a ``merge`` job that depends on
  the array;
* the network stages (semantics with CAUSE features, depth): one job of
  ``launch.nodes`` nodes, one task per node, each running ``torchrun`` over its
  ``launch.gpus_per_node`` GPUs on ``pseudo-labels run --config RESOLVED --stages
  STAGE`` (the stages shard images across ranks themselves);
* the rest (stand-in or CAUSE-27 semantics, stuff_things, report): one job each.

Every job reads the resolved config file, so what runs on the cluster is what
the file says. With ``launch.submitit_cluster: local`` submitit's local executor
runs the same jobs as processes on this machine, one stage after the other (it
has no dependencies): how the tests run a launch without a cluster.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import submitit

from pseudo_labels.core.errors import InputError
from pseudo_labels.pipeline.config import load_config
from pseudo_labels.pipeline.schema import RunConfig
from pseudo_labels.pipeline.stages import PER_IMAGE, Shard, merge_stage, run_stage

log = logging.getLogger("run")

MERGED = ("sweep", "panoptic")
"""Per-image stages whose shards write files that a merge job joins."""
MASTER_PORT = 29500


def shard_job(config_path: str, stage: str, index: int, count: int) -> str:
    """Job body: shard ``index`` of ``count`` of ``stage`` (or the whole stage when count is 1)."""
    return run_stage(load_config(config_path), stage, Shard(index, count))


def merge_job(config_path: str, stage: str, count: int) -> str:
    """Job body: join the shard files of ``stage``."""
    return merge_stage(load_config(config_path), stage, count)


def torchrun_command(config_path: str, stage: str, nodes: int, node_rank: int, nproc: int, master: str
                     ) -> list[str]:
    """The ``torchrun`` command one node runs for a network stage.

    It runs the stage here (``--launcher local``: no second submission) and keeps the job's own resolved
    config in ``{config folder}/jobs/{stage}/``, so the run's ``config.yaml`` stays the one to replay.
    """
    job_dir = Path(config_path).parent / "jobs" / stage
    return [sys.executable, "-m", "torch.distributed.run", f"--nnodes={nodes}", f"--node_rank={node_rank}",
            f"--nproc_per_node={nproc}", f"--master_addr={master}", f"--master_port={MASTER_PORT}",
            "--module", "pseudo_labels", "run", "--config", config_path, "--stages", stage, "--launcher", "local",
            f"run_dir={job_dir}"]


def torchrun_job(config_path: str, stage: str, nproc: int) -> str:
    """Job body, once per node: ``torchrun`` of ``stage`` over this node's GPUs, the first node as master."""
    env = submitit.JobEnvironment()
    command = torchrun_command(config_path, stage, env.num_nodes, env.node, nproc, env.hostnames[0])
    subprocess.run(command, check=True)
    return f"{stage}: torchrun on node {env.node} of {env.num_nodes} done"


def _uses_torchrun(config: RunConfig, stage: str) -> bool:
    return stage == "depth" or (stage == "semantics" and config.semantics.features == "cause")


def executor(config: RunConfig, stage: str, what: str) -> submitit.Executor:
    """The submitit executor of one job (or array) of ``stage``, with the ``launch`` settings."""
    launch = config.launch
    folder = Path(launch.folder) / "%j"
    network = _uses_torchrun(config, stage)
    params: dict[str, Any] = {"timeout_min": launch.timeout_min, "cpus_per_task": launch.cpus_per_task,
                              "mem_gb": launch.mem_gb, "name": f"{config.name}-{what}",
                              "nodes": launch.nodes if network else 1, "tasks_per_node": 1}
    if network and launch.gpus_per_node:
        params["gpus_per_node"] = launch.gpus_per_node
    if launch.submitit_cluster == "local":
        ex = submitit.LocalExecutor(folder)
        ex.update_parameters(**{k: v for k, v in params.items() if k in ("timeout_min", "nodes", "tasks_per_node",
                                                                          "gpus_per_node", "cpus_per_task")})
        return ex
    if shutil.which("srun") is None or shutil.which("sbatch") is None:
        raise InputError("--launcher slurm: no SLURM here (sbatch or srun not on PATH). Submit from a machine of "
                         "the cluster, or run with --launcher local.")
    ex = submitit.AutoExecutor(folder, cluster="slurm")
    slurm = {"slurm_array_parallelism": launch.array_parallelism, "slurm_setup": list(launch.setup)}
    if launch.partition:
        slurm["slurm_partition"] = launch.partition
    if launch.account:
        slurm["slurm_account"] = launch.account
    ex.update_parameters(**params, **slurm)
    return ex


def _array_id(job: submitit.Job) -> str:
    return str(job.job_id).split("_")[0]


def submit(config: RunConfig, config_path: Path) -> list[str]:
    """Submit the config's stages as jobs (see the module doc); returns one line per submitted job or array."""
    local = config.launch.submitit_cluster == "local"
    path, count = str(config_path), config.launch.shards
    after: list[str] = []
    lines = []
    for stage in config.stages:
        def prepared(what: str) -> submitit.Executor:
            ex = executor(config, stage, what)
            if after and not local:
                ex.update_parameters(slurm_additional_parameters={"dependency": "afterok:" + ":".join(after)})
            return ex

        if stage in PER_IMAGE and count > 1:
            jobs = prepared(stage).map_array(shard_job, [path] * count, [stage] * count, range(count),
                                             [count] * count)
            lines.append(f"{stage}: job array {_array_id(jobs[0])} ({count} shards)")
            ids = [_array_id(jobs[0])]
            if stage in MERGED:
                _wait(jobs, local)
                merge = prepared(f"{stage}-merge")
                if not local:
                    merge.update_parameters(slurm_additional_parameters={"dependency": f"afterok:{ids[0]}"})
                jobs = [merge.submit(merge_job, path, stage, count)]
                lines.append(f"{stage}: merge job {jobs[0].job_id} after {ids[0]}")
                ids = [str(jobs[0].job_id)]
        elif _uses_torchrun(config, stage):
            nproc = max(config.launch.gpus_per_node, 1)
            jobs = [prepared(stage).submit(torchrun_job, path, stage, nproc)]
            lines.append(f"{stage}: torchrun job {jobs[0].job_id} ({config.launch.nodes} node(s) x {nproc})")
            ids = [str(jobs[0].job_id)]
        else:
            jobs = [prepared(stage).submit(shard_job, path, stage, 0, 1)]
            lines.append(f"{stage}: job {jobs[0].job_id}")
            ids = [str(jobs[0].job_id)]
        _wait(jobs, local)
        after = ids
    return lines


def _wait(jobs: list[submitit.Job], local: bool) -> None:
    """With the local executor (no dependencies), wait for ``jobs``; a failed one is an InputError naming its log."""
    if not local:
        return
    for job in jobs:
        try:
            for line in str(job.result()).splitlines():
                log.info("job %s: %s", job.job_id, line)
        except submitit.core.utils.FailedJobError as exc:
            raise InputError(f"job {job.job_id} failed; its log: {job.paths.stderr} "
                             f"({str(exc).strip().splitlines()[-1] if str(exc).strip() else 'no message'}).") from None


def is_rank_zero() -> bool:
    """True outside ``torchrun``, and on its rank 0."""
    return os.environ.get("RANK", "0") == "0"
