# Sourced by scripts/mpi-check.sh and scripts/mpi-two-hosts.sh from the repository's root:
# lets Open MPI run as root (CI's user), and builds cnnc with the README's test-command flags,
# so that after it nothing is rebuilt; sets $root and $cnnc.
root=$PWD
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI 4.1's daemons (orted, mpirun) otherwise map hwloc's topology into shared memory at an
# address they guess from their own address space; once in a fresh-clone CI run an orted died
# there (SIGSEGV in hwloc_shmem_topology_write) and the two-host check failed. cnnc does not need
# the shared topology: "none" skips it (orte/mca/rtc/hwloc returns before mapping anything).
export OMPI_MCA_rtc_hwloc_vmhole=none
swift build -c release -Xswiftc -enable-testing --product cnnc
cnnc="$(swift build -c release -Xswiftc -enable-testing --show-bin-path)/cnnc"
