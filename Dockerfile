# Triage Hub: one image for the web process and every kind of Celery worker.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HUB_DATA_DIR=/var/lib/hub

# OpenCV (video keyframes) needs glib at run time; nothing else is compiled here.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --create-home --home-dir /home/hub --uid 10001 hub
WORKDIR /app
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY triage ./triage
RUN pip install .
COPY . .
RUN mkdir -p /var/lib/hub /srv/hub && chown -R hub:hub /var/lib/hub /srv/hub

USER hub
EXPOSE 8000
CMD ["gunicorn", "hub.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", "--timeout", "300"]
