# The product's image: API, portal worker and station worker run from it with different commands.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY domain domain
COPY contracts contracts
COPY db db
COPY security security
COPY mail mail
COPY storage storage
COPY workflows workflows
COPY activities activities
COPY station station
COPY hw hw
COPY gateway gateway
COPY application application
COPY web web
COPY api api
COPY console console
COPY cli cli
COPY worker.py supervisor.py portal_worker.py portal_app.py settings.py temporal_client.py observability.py alembic.ini ./
RUN pip install .
RUN useradd --system --uid 10001 aos
USER aos
EXPOSE 8000
CMD ["uvicorn", "portal_app:create_app", "--factory", "--no-proxy-headers", "--host", "0.0.0.0", "--port", "8000"]
