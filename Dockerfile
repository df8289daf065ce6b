# One image for the four services; SERVICE picks which one a container runs.
#   docker build -t complaint-workflow .
#   docker run -e SERVICE=intake -e AMQP_URI=... -p 8001:8001 \
#              -e HTTP_ADDRESS=0.0.0.0:8001 complaint-workflow
FROM python:3.11-slim

# PSYCOPG_WAIT_FUNC: psycopg 3 must cooperate with eventlet's hub (ARCHITECTURE.md).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PSYCOPG_WAIT_FUNC=wait_select \
    DATA_DIR=/app/data \
    HTTP_ADDRESS=0.0.0.0:8000

WORKDIR /app

COPY pyproject.toml ./
COPY contracts ./contracts
COPY servicekit ./servicekit
COPY services ./services

RUN pip install . \
    && rm -rf build *.egg-info \
    && useradd --system --uid 10001 --home-dir /app app \
    && mkdir -p /app/data \
    && chown app /app/data

USER app

EXPOSE 8001 8002 8003 8004

# SERVICE: intake | investigation | resolution | reporting
CMD case "$SERVICE" in \
      intake) CLASS=IntakeService ;; \
      investigation) CLASS=InvestigationService ;; \
      resolution) CLASS=ResolutionService ;; \
      reporting) CLASS=ReportingService ;; \
      *) echo "SERVICE must be intake, investigation, resolution or reporting, not '$SERVICE'" >&2; \
         exit 64 ;; \
    esac; \
    exec nameko run --config services/config.yaml "services.$SERVICE.service:$CLASS"
