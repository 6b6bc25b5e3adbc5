# Sourced by scripts/mpi-check.sh and scripts/mpi-two-hosts.sh from the repository's root:
# lets Open MPI run as root (CI's user), and builds cnnc with the README's test-command flags,
# so that after it nothing is rebuilt; sets $root and $cnnc.
root=$PWD
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
swift build -c release -Xswiftc -enable-testing --product cnnc
cnnc="$(swift build -c release -Xswiftc -enable-testing --show-bin-path)/cnnc"
