"""Gunicorn settings for every Whistle web process; `whistle serve SERVICE` loads this file.

Read from the environment so one file serves containers, the Procfile and CI alike:
WHISTLE_BIND (host:port), WHISTLE_WEB_WORKERS, WHISTLE_WEB_THREADS, WHISTLE_WEB_MAX_REQUESTS,
WHISTLE_LOG_LEVEL, PROMETHEUS_MULTIPROC_DIR. Gunicorn itself still honours FORWARDED_ALLOW_IPS.
"""

import os

# Loopback unless told otherwise: the container image sets WHISTLE_BIND=0.0.0.0:8000.
bind = [os.environ.get("WHISTLE_BIND", "127.0.0.1:8000")]

# Processes, not threads, are the unit of scale: a request holds a database session and
# CPU-bound JSON work, and more replicas are one `--scale` away. Threads > 1 switches gunicorn
# to its gthread worker; that is safe because a web process never opens a broker connection
# (the outbox relay runs in `whistle worker`), which is what py-amqp cannot share (DESIGN §8).
workers = int(os.environ.get("WHISTLE_WEB_WORKERS", "2"))
threads = int(os.environ.get("WHISTLE_WEB_THREADS", "1"))

# No preload: the app (engine pools, metrics files) must be built in each worker after fork,
# never in the master and inherited (CONVENTIONS "Wiring"; DESIGN §8).
preload_app = False

# A request that takes longer than this is a bug or a dead database: kill the worker, log it.
timeout = 30
# On SIGTERM, give in-flight requests this long; below compose's stop_grace_period (30 s) so
# gunicorn finishes before Docker's SIGKILL.
graceful_timeout = 20
# The client in front is the nginx gateway on a private network: short idle keep-alive.
keepalive = 5

# Recycle workers now and then so slow leaks never grow; the jitter keeps them from all
# restarting at the same moment. Not too often: a new worker builds the app again (about a
# second of CPU), which every 1,000 requests cost a busy service a tenth of its CPU.
max_requests = int(os.environ.get("WHISTLE_WEB_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10

# Worker heartbeats on tmpfs: on an overlay filesystem the default temp dir can stall long
# enough for the master to think a worker hung. /dev/shm is absent on macOS, hence the check.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# gunicorn's runtime control socket lives at one fixed path per user; four web processes on
# one machine (the Procfile) would fight over it, and nothing here uses gunicornc.
control_socket_disable = True

# Logs to stdout/stderr: the container runtime or honcho collects them.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("WHISTLE_LOG_LEVEL", "info").lower()
# %({x-correlation-id}i)s: the id the gateway set, so an access line joins the app's logs.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms cid=%({x-correlation-id}i)s'


def _metrics_dir():
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def on_starting(server):
    """Start every run with an empty metrics directory.

    prometheus_client's multiprocess mode keeps one file per worker pid and adds them all up
    at scrape time; files left by a previous run would be counted again (and pids get reused).
    """
    path = _metrics_dir()
    if not path:
        return
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))


def child_exit(server, worker):
    """Drop a dead worker's live gauges, so /metrics stops reporting a process that is gone.

    Its counters stay on disk on purpose: a total must not shrink when a worker is recycled.
    """
    if _metrics_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
