# gridmon worker / CLI image: slim, pinned, non-root. Build: docker build -t gridmon .
FROM python:3.11.10-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GRIDMON_TOPICS_DIR=/app/topics \
    GRIDMON_DATA_DIR=/data

RUN groupadd --system --gid 10001 gridmon \
    && useradd --system --uid 10001 --gid gridmon --home-dir /app --shell /usr/sbin/nologin gridmon \
    && mkdir -p /app /data && chown gridmon:gridmon /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
RUN pip install --no-compile . && rm -rf /root/.cache
COPY topics ./topics
COPY dashboards ./dashboards

USER gridmon:gridmon
VOLUME ["/data"]
EXPOSE 6066
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://localhost:6066/')" || exit 1
ENTRYPOINT []
CMD ["gridmon", "worker"]
