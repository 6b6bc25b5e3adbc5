#!/usr/bin/env bash
# Two "hosts" on one machine: network namespaces cnnc-a and cnnc-b, each with its own network
# stack, joined by a bridge (10.77.0.0/24) as two machines are by a switch. mpirun starts one
# rank in each through a launch agent that stands in for ssh (scripts/mpi/netns-agent.sh), and
# the ranks can reach each other only over TCP on the bridge. Checks that the checkpoint equals
# the one process × 2 threads writes, bit for bit. Needs root (ip netns), iproute2.
# Usage: scripts/mpi-two-hosts.sh   (after the README's test command, whose build it reuses)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/mpi/setup.sh

cleanup() {
  ip netns del cnnc-a 2>/dev/null || true
  ip netns del cnnc-b 2>/dev/null || true
  ip link del cnnc-br 2>/dev/null || true
  # The hosts' session folders (scripts/mpi/netns-agent.sh).
  rm -rf "$work" "${TMPDIR:-/tmp}/cnnc-mpi-cnnc-a" "${TMPDIR:-/tmp}/cnnc-mpi-cnnc-b"
}
work=$(mktemp -d)
trap cleanup EXIT
cleanup
work=$(mktemp -d)
if ! ip netns add cnnc-a 2>/dev/null; then
  echo "skipped: this machine does not let us create network namespaces (needs root)"
  exit 0
fi
ip netns del cnnc-a
ip link add cnnc-br type bridge
ip addr add 10.77.0.1/24 dev cnnc-br
ip link set cnnc-br up
address=2
for host in cnnc-a cnnc-b; do
  ip netns add "$host"
  ip link add "$host-eth" type veth peer name eth0 netns "$host"
  ip link set "$host-eth" master cnnc-br up
  ip netns exec "$host" ip addr add "10.77.0.$address/24" dev eth0
  ip netns exec "$host" ip link set eth0 up
  ip netns exec "$host" ip link set lo up
  address=$((address + 1))
done

cd "$work"
timeout 300 "$cnnc" run "$root/Models/lenet.yaml" --train --steps 30 --threads 2 \
  --out one.safetensors >/dev/null 2>&1
# mpirun itself stays outside both namespaces, as a login node would.
timeout 300 mpirun --host cnnc-a,cnnc-b -np 2 \
  --mca plm_rsh_agent "$root/scripts/mpi/netns-agent.sh" \
  --mca routed direct --mca btl self,tcp --mca btl_tcp_if_include 10.77.0.0/24 \
  --mca oob_tcp_if_include 10.77.0.0/24 \
  "$cnnc" run "$root/Models/lenet.yaml" --train --steps 30 --out "$work/two.safetensors"
if cmp -s one.safetensors two.safetensors && cmp -s one.safetensors.resume two.safetensors.resume; then
  echo "ok: two hosts (network namespaces over TCP) = 1 process x 2 threads, bit for bit"
else
  echo "FAIL: the two-host checkpoint differs from 1 process x 2 threads"
  exit 1
fi
