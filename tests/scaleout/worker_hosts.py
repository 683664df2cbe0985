"""Worker hosts on one machine: a network namespace each, a veth cable to the root namespace, and
the shared services reached through a proxy at the cable's far end.

Each host is a network namespace (``ip netns add``) joined to the root namespace by a veth pair on a
/30 of its own (root side ``.1``, host side ``.2``). Postgres and Redis listen on 127.0.0.1 only, and
the shared Postgres serves every other test at the same time, so its ``listen_addresses`` stay as
they are: a ``socat`` in the root namespace, bound to the root side of each host's cable, forwards
each service's port to 127.0.0.1. Cutting a host's network is taking its cable down (the root
side): packets stop, connections hang as on a real partition, the proxies stay up.

The blob store is one directory all hosts mount at the same path, as a department's NFS would be:
each worker runs in a mount namespace of its own (``unshare --mount``) with the shared directory
bind-mounted there. ``vanish_blobs`` replaces that mount, in that host only, by an empty read-only
tmpfs: reads find nothing, writes fail, as a lost mount does.

Workers enter the host's network namespace with ``nsenter --net`` rather than ``ip netns exec``:
the latter remounts ``/sys``, which hides the cgroup hierarchy the sandbox puts each job in.

Names carry a random token, so xdist workers (and other sessions) never collide; ``close`` removes
namespaces, cables and proxies, and is called by the fixture even when the test fails.
"""

from __future__ import annotations

import ipaddress
import os
import random
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def _used_networks() -> list[ipaddress.IPv4Network]:
    out = sh("ip", "-4", "-o", "addr", "show").stdout
    return [ipaddress.ip_interface(line.split()[3]).network for line in out.splitlines()]


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.0.0.0/8 no interface of this machine is on (each host takes a /30 of it)."""
    used = _used_networks()
    for _ in range(100):
        net = ipaddress.ip_network(f"10.{random.randint(100, 250)}.{random.randint(0, 255)}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    raise RuntimeError("no free 10.x.y.0/24 for the worker hosts' cables")


@dataclass
class Host:
    """One worker host: its namespace, its cable, and the address it reaches the services at."""

    index: int
    netns: str
    veth_root: str  # the root side of the cable: down means the host is cut off
    veth_host: str
    root_addr: str  # where the proxies listen for this host
    host_addr: str

    def nsenter(self) -> list[str]:
        """The command prefix that runs a program inside this host (its network namespace)."""
        return ["nsenter", f"--net=/run/netns/{self.netns}"]

    def cut(self) -> None:
        sh("ip", "link", "set", self.veth_root, "down")

    def restore(self) -> None:
        sh("ip", "link", "set", self.veth_root, "up")


@dataclass
class Network:
    """The hosts, their cables and the proxies to the shared services (port -> 127.0.0.1:port)."""

    log_dir: Path
    hosts: list[Host] = field(default_factory=list)
    proxies: list[subprocess.Popen] = field(default_factory=list)

    @classmethod
    def build(cls, count: int, forward_ports: list[int], log_dir: Path) -> Network:
        """``count`` hosts, each with a proxy per port; the proxies' errors go to ``log_dir``."""
        net = cls(log_dir)
        try:
            token = uuid.uuid4().hex[:6]
            subnets = list(_free_subnet().subnets(new_prefix=30))
            for index in range(count):
                root_addr, host_addr = (str(a) for a in list(subnets[index].hosts())[:2])
                host = Host(
                    index, f"grader-{token}-{index}", f"gs{token}{index}", f"gs{token}{index}n", root_addr, host_addr
                )
                net._add(host)
                for port in forward_ports:
                    net._proxy(host.root_addr, port)
            return net
        except BaseException:
            net.close()
            raise

    def _add(self, host: Host) -> None:
        sh("ip", "netns", "add", host.netns)
        self.hosts.append(host)
        sh("ip", "link", "add", host.veth_root, "type", "veth", "peer", "name", host.veth_host)
        sh("ip", "link", "set", host.veth_host, "netns", host.netns)
        sh("ip", "addr", "add", f"{host.root_addr}/30", "dev", host.veth_root)
        sh("ip", "link", "set", host.veth_root, "up")
        inside = ["ip", "netns", "exec", host.netns]
        sh(*inside, "ip", "addr", "add", f"{host.host_addr}/30", "dev", host.veth_host)
        sh(*inside, "ip", "link", "set", host.veth_host, "up")
        sh(*inside, "ip", "link", "set", "lo", "up")

    def _proxy(self, bind: str, port: int) -> None:
        # fork: one child per connection, so a hung connection (a cut host) blocks no other.
        with open(self.log_dir / f"socat-{bind}-{port}.log", "wb") as log:
            proc = subprocess.Popen(
                ["socat", f"TCP-LISTEN:{port},bind={bind},reuseaddr,fork", f"TCP:127.0.0.1:{port}"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        self.proxies.append(proc)
        for _ in range(100):  # listening once ss sees it
            if f"{bind}:{port}" in sh("ss", "-Hltn", f"src {bind}").stdout:
                return
            if proc.poll() is not None:
                raise RuntimeError(f"socat for {bind}:{port} exited (its log is in {self.log_dir})")
            time.sleep(0.05)
        raise RuntimeError(f"socat for {bind}:{port} is not listening")

    def close(self) -> None:
        for proc in self.proxies:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the listener and its per-connection children
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
        for host in self.hosts:
            sh("ip", "link", "del", host.veth_root, check=False)  # takes its peer with it
            sh("ip", "netns", "del", host.netns, check=False)


def worker_prefix(host: Host, hostname: str, shared_blobs: Path, mount_point: Path) -> list[str]:
    """Run a command inside ``host``, named ``hostname``, in a mount namespace of its own where
    ``shared_blobs`` is mounted at ``mount_point`` (the same path on every host, as an NFS mount is)."""
    script = f'hostname "{hostname}" && mount --bind "{shared_blobs}" "{mount_point}" && exec "$@"'
    return [*host.nsenter(), "unshare", "--mount", "--uts", "--propagation", "slave", "sh", "-c", script, "sh"]


def vanish_blobs(pid: int, mount_point: Path) -> None:
    """In the mount namespace of process ``pid`` only: the shared blob directory is gone, and an
    empty read-only tmpfs is where it was (a lost mount: nothing to read, nothing can be written)."""
    enter = ["nsenter", f"--target={pid}", "--mount"]
    sh(*enter, "umount", "-l", str(mount_point))
    sh(*enter, "mount", "-t", "tmpfs", "-o", "ro,size=1m", "vanished", str(mount_point))
