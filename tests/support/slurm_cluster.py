"""A real one-node Slurm for the tests: munged, slurmctld and slurmd started on this machine.

Everything lives in one temporary state folder (slurm.conf, gres.conf, munge key and socket, pid
files, spool and state directories, logs); the daemons are stopped by their own process ids
afterwards. Debian's ``slurmctld``, ``slurmd``, ``slurm-client`` and ``munge`` packages
(``tests/slurm/install_slurm.sh``), run as root. The configuration is the one that worked on this
kind of machine (guide/findings.md): ``proctrack/linuxproc`` and ``task/none`` (no cgroups in a
container), ``select/cons_tres``, one ``gpu`` gres declared as ``File=/dev/null`` so that scripts
asking ``--gres=gpu:1`` can start. ``SlurmCluster.unavailable()`` gives the one-line reason to
skip where that cannot be had.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "scontrol", "squeue", "scancel", "srun")
# The node is this machine by its own name: Lightning's DDP finds its rank 0 by resolving the first
# name in SLURM_NODELIST, as it would on a cluster.
NODE = socket.gethostname().split(".")[0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SlurmCluster:
    """``start()`` brings the cluster up (or raises RuntimeError naming what failed); ``stop()``
    ends the daemons it started; ``env`` is what a client command (sbatch, scontrol) needs."""

    def __init__(self, cpus: int = 2):
        self.cpus = cpus
        self.root = Path(tempfile.mkdtemp(prefix="coaxial-slurm-"))
        self.root.chmod(0o755)  # munged runs as the munge user and must reach its folder
        self.conf = self.root / "slurm.conf"
        self.env = {"SLURM_CONF": str(self.conf)}
        self._pid_files: dict[str, Path] = {}

    @staticmethod
    def unavailable() -> str | None:
        missing = [name for name in DAEMONS if shutil.which(name) is None
                   and not Path("/usr/sbin", name).exists()]
        if missing:
            return f"no real Slurm here ({', '.join(missing)} missing: tests/slurm/install_slurm.sh installs it)"
        if os.geteuid() != 0:
            return "the Slurm daemons need root to start (CI runs as root)"
        try:
            pwd.getpwnam("munge")
        except KeyError:
            return "no munge user (Debian's munge package creates it)"
        try:
            socket.gethostbyname(NODE)
        except OSError:
            return f"this machine's name {NODE!r} does not resolve (DDP's rank 0 is found by it)"
        return None

    # -- start ---------------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> None:
        self._start_munge()
        self._write_config()
        self._daemon("slurmctld", ["slurmctld", "-f", str(self.conf)])
        self._daemon("slurmd", ["slurmd", "-f", str(self.conf), "-N", NODE])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.scontrol("show", "node", NODE, check=False)
            if "State=IDLE" in state:
                return
            time.sleep(0.5)
        raise RuntimeError(f"the Slurm node did not come up in {timeout:.0f} s: {state.strip()[-300:]}\n"
                           f"{self.log_tail()}")

    def _start_munge(self) -> None:
        munge_dir = self.root / "munge"
        munge_dir.mkdir()
        munge_dir.chmod(0o755)  # munged wants the socket folder open to all (the key stays 0600)
        key = munge_dir / "munge.key"
        subprocess.run([_sbin("mungekey"), "--create", "--keyfile", str(key)], check=True, capture_output=True)
        user = pwd.getpwnam("munge")
        for path in (munge_dir, key):
            os.chown(path, user.pw_uid, user.pw_gid)
        key.chmod(0o600)
        self.munge_socket = munge_dir / "munge.socket"
        pid_file = munge_dir / "munged.pid"
        command = [_sbin("munged"), f"--socket={self.munge_socket}", f"--key-file={key}",
                   f"--pid-file={pid_file}", f"--log-file={munge_dir / 'munged.log'}",
                   f"--seed-file={munge_dir / 'munged.seed'}"]
        run = subprocess.run(["runuser", "-u", "munge", "--", *command], capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"munged did not start: {run.stderr.strip()}")
        self._pid_files["munged"] = pid_file
        self._wait_for(pid_file, "munged")

    def _write_config(self) -> None:
        for name in ("state", "spool", "jobs"):
            (self.root / name).mkdir()
        hostname = socket.gethostname()
        settings = {
            "ClusterName": "coaxial", "SlurmctldHost": f"{hostname}(127.0.0.1)",
            "SlurmUser": "root", "SlurmdUser": "root",
            "SlurmctldPort": _free_port(), "SlurmdPort": _free_port(),
            "AuthType": "auth/munge", "CredType": "cred/munge", "AuthInfo": f"socket={self.munge_socket}",
            "StateSaveLocation": self.root / "state", "SlurmdSpoolDir": self.root / "spool",
            "SlurmctldPidFile": self.root / "slurmctld.pid", "SlurmdPidFile": self.root / "slurmd.pid",
            "SlurmctldLogFile": self.root / "slurmctld.log", "SlurmdLogFile": self.root / "slurmd.log",
            "ProctrackType": "proctrack/linuxproc", "TaskPlugin": "task/none",
            "SelectType": "select/cons_tres", "SelectTypeParameters": "CR_Core",
            "GresTypes": "gpu", "MpiDefault": "none", "ReturnToService": 2,
            "SchedulerType": "sched/backfill", "SlurmctldParameters": "enable_configless",
            "JobCompType": "jobcomp/none", "AccountingStorageType": "accounting_storage/none",
            "SchedulerParameters": "sched_interval=1", "MessageTimeout": 20,
            # a fresh node must not wait for a reboot or a long health check
            "SlurmdTimeout": 300, "InactiveLimit": 0, "MinJobAge": 600,
            # SIGTERM to SIGKILL on scancel: time for the batch in progress and the save (default 30)
            "KillWait": 120,
        }
        lines = [f"{key}={value}" for key, value in settings.items()]
        lines += [f"NodeName={NODE} NodeAddr=127.0.0.1 CPUs={self.cpus} "
                  "Gres=gpu:1 State=UNKNOWN",
                  f"PartitionName=test Nodes={NODE} Default=YES MaxTime=INFINITE State=UP"]
        self.conf.write_text("\n".join(lines) + "\n")
        (self.root / "gres.conf").write_text(f"NodeName={NODE} Name=gpu File=/dev/null Count=1\n")
        self._pid_files["slurmctld"] = self.root / "slurmctld.pid"
        self._pid_files["slurmd"] = self.root / "slurmd.pid"

    def _daemon(self, name: str, command: list[str]) -> None:
        run = subprocess.run([_sbin(command[0]), *command[1:]], capture_output=True, text=True,
                             env=os.environ | self.env)
        if run.returncode != 0:
            raise RuntimeError(f"{name} did not start: {run.stderr.strip()[-300:]}\n{self.log_tail()}")
        self._wait_for(self._pid_files[name], name)

    def _wait_for(self, pid_file: Path, name: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pid_file.exists() and pid_file.read_text().strip():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} wrote no pid file in {timeout:.0f} s\n{self.log_tail()}")

    # -- use -----------------------------------------------------------------------------------
    def command(self, *args: str, check: bool = True) -> str:
        run = subprocess.run(list(args), capture_output=True, text=True, env=os.environ | self.env, timeout=60)
        if check and run.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: exit {run.returncode}: {run.stderr.strip()}")
        return run.stdout + (run.stderr if not check else "")

    def scontrol(self, *args: str, check: bool = True) -> str:
        return self.command("scontrol", *args, check=check)

    def job(self, job_id: int) -> dict[str, str]:
        """``scontrol show job``'s fields (JobState, Restarts, ExitCode, ...)."""
        fields: dict[str, str] = {}
        for word in self.scontrol("show", "job", str(job_id), "--oneliner").split():
            key, _, value = word.partition("=")
            fields.setdefault(key, value)
        return fields

    def log_tail(self, lines: int = 15) -> str:
        parts = []
        for log in (self.root / "slurmctld.log", self.root / "slurmd.log", self.root / "munge" / "munged.log"):
            if log.exists():
                parts.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(parts)

    # -- stop ----------------------------------------------------------------------------------
    def stop(self) -> None:
        """Cancel the jobs still there (a failed test may leave one running), then SIGTERM to each
        daemon this cluster started (by its pid file), slurmd first; then the state folder goes."""
        if self.conf.exists():
            try:
                self._cancel_all()
            except (OSError, subprocess.SubprocessError):
                pass
        for name in ("slurmd", "slurmctld", "munged"):
            pid_file = self._pid_files.get(name)
            if pid_file is None or not pid_file.exists():
                continue
            try:
                pid = int(pid_file.read_text().split()[0])
                os.kill(pid, signal.SIGTERM)
            except (ValueError, IndexError, ProcessLookupError, PermissionError):
                continue
            _wait_gone(pid)
        shutil.rmtree(self.root, ignore_errors=True)


    def _cancel_all(self, timeout: float = 60) -> None:
        jobs = self.command("squeue", "--noheader", "--format=%i", check=False).split()
        if not jobs or not all(job.isdigit() for job in jobs):
            return
        self.command("scancel", *jobs, check=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.command("squeue", "--noheader", check=False).strip():
            time.sleep(1)


def _wait_gone(pid: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def _sbin(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))
