# Debian's redis-server, for machines that cannot pull redis from Docker Hub. Same data folder as the official image.
ARG BASE_IMAGE=cognitionos/debian-python:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
