"""Private brokers for tests and benches: a RabbitMQ node and a Redis
Sentinel group, each on free loopback ports under a folder of its own.

Never the servers that may already listen on the standard ports: a RabbitMQ
node here has its own node name, ports, data folder, Erlang cookie (HOME is
its folder) and its own epmd port; a Sentinel group its own masters,
replicas and sentinels.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

__all__ = ["RabbitNode", "SentinelGroup", "free_port"]

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


def free_port() -> int:
    """A free loopback port below the ephemeral range (a server restarted on
    it must find it free; see bench.chaos.quiet_port)."""
    from bench.chaos import quiet_port

    return quiet_port()


def _wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


@dataclass
class RabbitNode:
    """One RabbitMQ node under ``folder``; restartable on the same ports."""

    folder: Path
    port: int = 0
    dist_port: int = 0
    epmd_port: int = 0
    name: str = ""
    process: subprocess.Popen[bytes] | None = None
    _log: Path = field(init=False)

    @staticmethod
    def available() -> bool:
        return (RABBIT_BIN / "rabbitmq-server").exists() and shutil.which("erl") is not None

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.dist_port = self.dist_port or free_port()
        self.epmd_port = self.epmd_port or free_port()
        self.name = self.name or f"nw-test-{os.getpid()}-{self.port}@localhost"
        self._log = self.folder / "server.log"
        (self.folder / "enabled_plugins").write_text("[].\n")
        # Publisher confirms and quorum queues need nothing more; the
        # loopback-only default user suits a node on 127.0.0.1.
        (self.folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "loopback_users = none\n"
            # rabbitmqctl's queue counts refreshed every second (5 by default).
            "collect_statistics_interval = 1000\n"
            "log.console = true\nlog.console.level = warning\nlog.file = false\n"
        )

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
        env.update(
            HOME=str(self.folder),
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_MNESIA_BASE=str(self.folder / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.folder / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.folder / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.folder / "rabbitmq"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.folder / "advanced.config"),
            RABBITMQ_CONF_ENV_FILE=str(self.folder / "rabbitmq-env.conf"),
            RABBITMQ_PID_FILE=str(self.folder / "pid"),
        )
        return env

    def start(self, timeout: float = 90) -> RabbitNode:
        self.process = subprocess.Popen(
            [str(RABBIT_BIN / "rabbitmq-server")],
            env=self.env(),
            stdout=self._log.open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited:\n{self.log_tail()}")
            if _wait_port(self.port, 1) and self._answers():
                return self
        self.stop()
        raise RuntimeError(f"rabbitmq-server did not start:\n{self.log_tail()}")

    def _answers(self) -> bool:
        from kombu.connection import Connection

        try:
            with Connection(self.url, connect_timeout=2) as conn:  # type: ignore[no-untyped-call]
                conn.connect()
                return True
        except Exception:
            return False

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """rabbitmqctl against this node."""
        return subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.name, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ready(self, queue: str) -> int:
        """Messages ready in ``queue`` (not delivered, or given back), as
        RabbitMQ's queue says at once (rabbitmqctl's counts of a quorum queue
        lag behind)."""
        from kombu.connection import Connection

        with Connection(self.url, connect_timeout=5) as conn:  # type: ignore[no-untyped-call]
            return int(conn.default_channel.queue_declare(queue, passive=True).message_count)

    def stop(self) -> None:
        """Stop the node: SIGTERM to its process group (beam and its helpers),
        then the private epmd."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        # The node started its own epmd on epmd_port: stop that one only.
        subprocess.run(["epmd", "-port", str(self.epmd_port), "-kill"], env=self.env(),
                       capture_output=True, timeout=10, check=False)  # fmt: skip

    def __enter__(self) -> RabbitNode:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass
class SentinelGroup:
    """A master, ``replicas`` replicas and ``sentinels`` sentinels watching
    them as ``master_name``, all on loopback under ``folder``."""

    folder: Path
    replicas: int = 2
    sentinels: int = 3
    master_name: str = "nwmaster"
    down_after_ms: int = 1000
    servers: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)  # port -> process
    sentinel_ports: list[int] = field(default_factory=list)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _redis(self, port: int, replica_of: int | None) -> subprocess.Popen[bytes]:
        folder = self.folder / f"redis-{port}"
        folder.mkdir(parents=True, exist_ok=True)
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir",
                str(folder), "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
                "--protected-mode", "no", "--repl-diskless-sync", "yes",
                "--repl-diskless-sync-delay", "0"]  # fmt: skip
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        proc = subprocess.Popen(args, stdout=(folder / "log").open("ab"),
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # fmt: skip
        if not _wait_port(port, 30):
            raise RuntimeError(f"redis-server on {port} did not start")
        return proc

    def start(self) -> SentinelGroup:
        self.folder.mkdir(parents=True, exist_ok=True)
        master = free_port()
        self.servers[master] = self._redis(master, None)
        for _ in range(self.replicas):
            port = free_port()
            self.servers[port] = self._redis(port, master)
        quorum = self.sentinels // 2 + 1
        for i in range(self.sentinels):
            port = free_port()
            conf = self.folder / f"sentinel-{i}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {self.folder}\n"
                f"sentinel monitor {self.master_name} 127.0.0.1 {master} {quorum}\n"
                f"sentinel down-after-milliseconds {self.master_name} {self.down_after_ms}\n"
                f"sentinel failover-timeout {self.master_name} 10000\n"
                f"sentinel parallel-syncs {self.master_name} 1\n"
            )
            proc = subprocess.Popen(
                ["redis-server", str(conf), "--sentinel"],
                stdout=(self.folder / f"sentinel-{i}.log").open("ab"),
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            self._procs.append(proc)
            self.sentinel_ports.append(port)
            if not _wait_port(port, 30):
                raise RuntimeError(f"sentinel on {port} did not start")
        self.wait_replicated(master, self.replicas)
        return self

    def url(self, db: int = 0) -> str:
        """The Sentinel URL newswire takes (kombu's form: each sentinel's
        address, separated by ';')."""
        return ";".join(f"sentinel://127.0.0.1:{p}/{db}" for p in self.sentinel_ports)

    def master_port(self) -> int:
        for port in self.sentinel_ports:
            with (
                contextlib.suppress(redis.RedisError),
                redis.Redis(port=port, socket_timeout=2) as s,
            ):
                _host, master = s.sentinel_get_master_addr_by_name(self.master_name)
                return int(master)
        raise RuntimeError("no sentinel answers")

    def wait_replicated(self, master: int, replicas: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        with redis.Redis(port=master, decode_responses=True) as client:
            while time.monotonic() < deadline:
                info = client.info("replication")
                online = [v for k, v in info.items() if k.startswith("slave")
                          and isinstance(v, dict) and v.get("state") == "online"]  # fmt: skip
                if len(online) >= replicas:
                    return
                time.sleep(0.1)
        raise RuntimeError(f"{replicas} replicas of {master} not online in {timeout}s")

    def kill_master(self) -> int:
        """SIGKILL the current master; returns its port."""
        port = self.master_port()
        proc = self.servers.pop(port)
        proc.kill()
        proc.wait()
        return port

    def wait_failover(self, old: int, timeout: float = 60) -> int:
        """The new master's port, once the sentinels promoted one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError):
                port = self.master_port()
                if port != old:
                    with redis.Redis(port=port, decode_responses=True) as c:
                        if c.info("replication").get("role") == "master":
                            return port
            time.sleep(0.1)
        raise RuntimeError(f"no failover from {old} in {timeout}s")

    def close(self) -> None:
        for proc in [*self._procs, *self.servers.values()]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self._procs, *self.servers.values()]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> SentinelGroup:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()
