#!/bin/sh
# Open MPI's remote launch agent for scripts/mpi-two-hosts.sh, in ssh's place: "agent HOST
# COMMAND..." runs COMMAND inside the network namespace named HOST.
host=$1
shift
exec ip netns exec "$host" sh -c "$*"
