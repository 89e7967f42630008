# The dbaas control plane in one image: supervisord (PID 1) runs api, worker, status-sync and
# drift (supervisord.conf). Build from the repository root:
#   docker build --network host -t dbaas:dev .
# Written for the classic builder as well as BuildKit (no RUN --mount), because CI's engine
# may have either.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: wheels for every dependency and for dbaas, installed into /opt/venv --------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
# Dependencies first, from pyproject and the pins alone, so a code change reuses this layer.
# constraints.txt: the versions the tests ran with (`make install` uses the same file).
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
 && /opt/venv/bin/pip wheel --wheel-dir /wheels -r requirements.txt -c constraints.txt
COPY setup.cfg README.md ./
COPY services ./services
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --no-index --find-links /wheels dbaas \
 && /opt/venv/bin/pip uninstall --yes pip setuptools \
 && rm -rf /opt/venv/lib/python3.11/site-packages/kubernetes/aio \
 && find /opt/venv -name '*.pyc' -delete \
 && /opt/venv/bin/python -OO -m compileall -q -j 0 /opt/venv/lib/python3.11/site-packages \
 && /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib/python3.11/site-packages/supervisor \
 && sed -i '1s|$| -E|' /opt/venv/bin/supervisorctl /opt/venv/bin/supervisord
# PYTHONOPTIMIZE=2 below: every process in the image loads the .opt-2.pyc files compiled
# here (no docstrings: ~4 MiB less per program); the plain .pyc files would never be read,
# except supervisor's: supervisorctl and supervisord print their usage from module
# docstrings, so their scripts run with `python -E` (PYTHONOPTIMIZE and the other PYTHON*
# variables ignored) and load those.
# kubernetes/aio: the official client (v37+) bundles an asyncio copy of itself, 68 MB of the
# 190 MB venv; dbaas uses only the synchronous client (services/clients/kube.py).

# ---- runtime: the virtualenv and the config, no compiler, no wheels, no pip in the venv ---
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="dbaas" \
      org.opencontainers.image.description="Control plane for managed databases on Kubernetes through KubeDB: REST API, operation worker and reconcilers under supervisord" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# uid/gid 10001: non-root, and outside the range of system and first human users.
RUN groupadd --gid 10001 dbaas \
 && useradd --uid 10001 --gid 10001 --no-create-home \
      --home-dir /var/run/dbaas --shell /usr/sbin/nologin dbaas \
 && install -d -o 10001 -g 10001 -m 0700 /var/run/dbaas

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY supervisord.conf /app/supervisord.conf

# DBAAS_HOME holds the supervisor socket, pidfile and FATAL marker: an emptyDir in
# Kubernetes, so the root filesystem can stay read-only. No .pyc writes at run time for
# the same reason (the venv's were compiled at install).
ENV PATH=/opt/venv/bin:$PATH \
    DBAAS_HOME=/var/run/dbaas \
    DBAAS_API_HOST=0.0.0.0 \
    DBAAS_API_PORT=8000 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONOPTIMIZE=2 \
    PYTHONUNBUFFERED=1
# The standard library's .opt-2.pyc too: nothing may be compiled at run time.
RUN python -OO -m compileall -q -j 0 /usr/local/lib/python3.11

USER 10001:10001
EXPOSE 8000
# supervisord turns SIGTERM into ordered, graceful stops (budget: supervisord.conf).
STOPSIGNAL SIGTERM
# Liveness only (/healthz); /readyz is for Kubernetes' readiness probe. No curl in slim.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('DBAAS_API_PORT', '8000'), timeout=4)"]

# supervisord runs inside this launcher's own process (PID 1: it reaps and handles
# signals); the launcher exits 1 when a program went FATAL. `command: [dbaas, api]` in a
# manifest runs one program alone instead (deploy/overlays/split).
ENTRYPOINT ["python", "-m", "services.supervision.supervise"]
CMD ["-c", "/app/supervisord.conf"]
