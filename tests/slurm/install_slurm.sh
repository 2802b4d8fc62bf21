#!/usr/bin/env bash
# Installs the real one-node Slurm that tests/slurm/ runs the sbatch scripts under: Debian's
# slurmctld, slurmd, slurm-client (sbatch, srun, scontrol, scancel) and munge. Needs root (or
# passwordless sudo) and apt-get; without them it says so and exits 0, and the Slurm tests skip.
# The daemons are not started here: the tests start their own, in a temporary folder.
set -euo pipefail
packages="slurmctld slurmd slurm-client munge"
if command -v slurmctld >/dev/null && command -v sbatch >/dev/null && command -v munged >/dev/null; then
  echo "Slurm already installed: $(slurmctld -V)"; exit 0
fi
if ! command -v apt-get >/dev/null; then echo "no apt-get: the Slurm tests will skip"; exit 0; fi
if [ "$(id -u)" -eq 0 ]; then as_root=""
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then as_root="sudo -n"
else echo "not root and no passwordless sudo: Slurm not installed, the Slurm tests will skip"; exit 0; fi
# policy-rc.d (where the image has one) keeps the packages' own services from starting.
$as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends $packages >/dev/null \
  || { echo "Slurm install failed: the Slurm tests will skip"; exit 0; }
echo "installed: $(slurmctld -V)"
