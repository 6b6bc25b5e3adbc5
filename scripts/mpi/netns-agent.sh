#!/bin/sh
# Open MPI's remote launch agent for scripts/mpi-two-hosts.sh, in ssh's place: "agent HOST
# COMMAND..." runs COMMAND inside the network namespace named HOST.
#
# Each "host" gets its own session directory tree, as a real host has its own /tmp: the two
# daemons share this machine's /tmp and hostname, so both made the same parent folders at
# once, and once one lost the race ("A call to mkdir was unable to create the desired
# directory ... File exists", orte_session_dir failed) and the check failed.
host=$1
shift
OMPI_MCA_orte_tmpdir_base="${TMPDIR:-/tmp}/cnnc-mpi-$host"
mkdir -p "$OMPI_MCA_orte_tmpdir_base"
export OMPI_MCA_orte_tmpdir_base
exec ip netns exec "$host" sh -c "$*"
